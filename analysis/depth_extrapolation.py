"""Figures of a real model that cannot be simulated whole, from its depth-truncated variants.

DCP planning over all 126 blocks of Llama-3 405B at 16,384 ranks would hold ~56M chunks in one process; the scale
profile plans its first 1, 2 and 4 blocks instead (`llama3_405b_l1/_l2/_l4`, exact tensor shapes; the record's
`model_scale`). Planning visits each tensor's items, so at a fixed world size its cost is affine in the block count
(embeddings, final norm and output are the constant part). This module fits that line per case and world size and
reads it at the real model's block count, with the 95% confidence interval of the line there (few points, so a
wide one). It is an extrapolation, labelled as one wherever it is shown; how well the line holds is checked where
the whole model fits (docs/findings/).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

GROUP = ["of", "api", "op", "options_label", "world_size", "mesh"]


def extra_figure(frame: pd.DataFrame, name: str) -> pd.Series:
    """Rank 0's figure `name` from each row's extra_per_rank (the op's own figures), NaN where absent."""
    def first(per_rank: Any) -> float:
        if not isinstance(per_rank, list) or not per_rank or not isinstance(per_rank[0], dict):
            return math.nan
        value = per_rank[0].get(name)
        return float(value) if isinstance(value, (int, float)) else math.nan

    column = frame["extra_per_rank"] if "extra_per_rank" in frame else pd.Series(index=frame.index, dtype=object)
    return column.map(first)


def _truncated_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """ok rows of depth-truncated variants (width as the real model's), with `of`, `layers`, `of_layers` columns."""
    if "model_scale" not in frame or frame.empty:
        return frame.iloc[0:0].assign(of=[], layers=[], of_layers=[])
    scale = frame["model_scale"].map(lambda s: s if isinstance(s, dict) else {})
    keep = scale.map(lambda s: s.get("width_divisor") == 1 and s.get("layers", 0) < s.get("of_layers", 0))
    rows = frame[keep & (frame["status"] == "ok")].copy()
    rows["of"] = scale[keep].map(lambda s: s["of"])
    rows["layers"] = scale[keep].map(lambda s: s["layers"])
    rows["of_layers"] = scale[keep].map(lambda s: s["of_layers"])
    return rows


def line_at(x: np.ndarray, y: np.ndarray, x0: float, confidence: float = 0.95) -> tuple[float, float, float]:
    """(estimate, low, high) of the least-squares line through (x, y) at x0, with the confidence interval of the
    line's value there (Student t on n - 2 degrees of freedom; NaN bounds with only two points)."""
    fit = stats.linregress(x, y)
    estimate = fit.intercept + fit.slope * x0
    dof = len(x) - 2
    if dof < 1:
        return float(estimate), math.nan, math.nan
    residual = float(np.sqrt(np.sum((y - (fit.intercept + fit.slope * x)) ** 2) / dof))
    spread = residual * math.sqrt(1 / len(x) + (x0 - x.mean()) ** 2 / np.sum((x - x.mean()) ** 2))
    half = stats.t.ppf(0.5 + confidence / 2, dof) * spread
    return float(estimate), float(estimate - half), float(estimate + half)


def extrapolate_to_full_depth(frame: pd.DataFrame, value: str = "median_s") -> pd.DataFrame:
    """Per real model, case and world size measured at two or more depths: `value` (a column of the frame, or an
    extra figure's name) read off the line at the real block count. Columns: GROUP, layers (the depths measured),
    of_layers, estimate, low, high."""
    rows = _truncated_rows(frame)
    if not rows.empty and value not in rows:
        rows = rows.assign(**{value: extra_figure(rows, value)})
    out = []
    for key, group in rows.groupby(GROUP, dropna=False):
        group = group.dropna(subset=[value])
        per_depth = group.groupby("layers")[value].median()
        if len(per_depth) < 2:
            continue
        x, y = per_depth.index.to_numpy(dtype=float), per_depth.to_numpy(dtype=float)
        of_layers = int(group["of_layers"].iloc[0])
        estimate, low, high = line_at(x, y, of_layers)
        out.append({**dict(zip(GROUP, key)), "layers": [int(n) for n in x], "of_layers": of_layers,
                    "estimate": estimate, "low": low, "high": high})
    return pd.DataFrame(out, columns=GROUP + ["layers", "of_layers", "estimate", "low", "high"])
