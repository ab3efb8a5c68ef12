"""analysis/depth_extrapolation.py on data of known truth: an exactly affine cost is read off at the real depth with
a zero-width interval, a noisy one lands inside its interval, and rows of other models are left alone."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from analysis.depth_extrapolation import extra_figure, extrapolate_to_full_depth, line_at


def _row(layers: int, median_s: float, world_size: int = 16384, *, width: int = 1, chunks: int | None = None) -> dict:
    return {"model_scale": {"of": "llama3_405b", "width_divisor": width, "layers": layers, "of_layers": 126},
            "api": "dcp", "op": "plan_load", "options_label": "saved_ranks=8192", "world_size": world_size,
            "mesh": str(world_size), "status": "ok", "median_s": median_s,
            "extra_per_rank": [{"metadata_chunks": chunks}] if chunks is not None else []}


def test_an_affine_cost_is_read_off_at_the_real_depth():
    # cost = 0.2 s + 0.5 s per block: 126 blocks -> 63.2 s, exactly
    frame = pd.DataFrame([_row(n, 0.2 + 0.5 * n, chunks=1000 + 300 * n) for n in (1, 2, 4)]
                         + [_row(2, 9.0, width=16), {**_row(2, 5.0), "model_scale": None}])
    table = extrapolate_to_full_depth(frame)
    assert len(table) == 1  # the width-scaled and the unscaled rows are not depth variants
    row = table.iloc[0]
    assert row["layers"] == [1, 2, 4] and row["of_layers"] == 126
    assert row["estimate"] == pytest.approx(63.2) and row["low"] == pytest.approx(63.2)
    assert row["high"] == pytest.approx(63.2)
    chunks = extrapolate_to_full_depth(frame, "metadata_chunks").iloc[0]
    assert chunks["estimate"] == pytest.approx(1000 + 300 * 126)


def test_a_noisy_line_holds_the_truth_in_its_interval_about_as_often_as_it_says():
    rng = np.random.default_rng(3)
    x = np.array([1.0, 2.0, 4.0, 8.0])
    hits = 0
    for _ in range(400):
        y = 0.2 + 0.5 * x + rng.normal(0, 0.05, size=x.size)
        _, low, high = line_at(x, y, 126.0)
        hits += low <= 0.2 + 0.5 * 126 <= high
    assert 0.91 <= hits / 400 <= 0.99  # a 95% interval


def test_one_depth_gives_no_line_and_two_give_no_interval():
    assert extrapolate_to_full_depth(pd.DataFrame([_row(1, 1.0), _row(1, 1.1, world_size=256)])).empty
    estimate, low, high = line_at(np.array([1.0, 2.0]), np.array([1.0, 2.0]), 126.0)
    assert estimate == pytest.approx(126.0) and math.isnan(low) and math.isnan(high)


def test_extra_figure_reads_rank_zero_and_tolerates_absence():
    frame = pd.DataFrame({"extra_per_rank": [[{"a": 3}], [], None, [{"b": 1}]]})
    assert extra_figure(frame, "a").tolist()[0] == 3.0 and extra_figure(frame, "a").isna().tolist()[1:] == [True] * 3
