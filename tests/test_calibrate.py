"""Calibrate (bench/compare/calibrate.py, bench/rank/planted.py): the plan's syntax, planting on side B alone, the
verdicts
judged against the known truth, and a real run of the two sides on the same python."""

import json
import subprocess
import sys
import time
from argparse import Namespace

import pandas as pd
import pytest

from bench.compare.calibrate import judge, parse_ops
from bench.compare.args import BadInput
from bench.compare.sides import side_env
from bench.rank.planted import PLANT_ENV, parse_plan, planted_fraction, spin_after
from tests.conftest import ROOT


def test_ops_take_a_slowdown_each_or_the_default_and_bad_ones_are_refused():
    assert parse_ops("fsdp2:get_optim=10%,set_model", 0.2) == {"fsdp2:get_optim": 0.1, "set_model": 0.2}
    assert parse_ops("save=0.5", 0.1) == {"save": 0.5}
    for text, message in [("foo", "'foo' is not an op"), ("a:b:get_model", "is not an op"),
                          ("save=x", "is not a number"), ("save=0%", "more than 0%"), (",", "names no op")]:
        with pytest.raises(BadInput, match=message):
            parse_ops(text, 0.1)


def test_the_plan_applies_by_api_and_op_or_by_op(monkeypatch):
    monkeypatch.setenv(PLANT_ENV, json.dumps({"fsdp2:get_optim": 0.1, "set_model": 0.2}))
    assert planted_fraction("fsdp2", "get_optim") == 0.1
    assert planted_fraction("fsdp1", "get_optim") == 0.0
    assert planted_fraction("fsdp1", "set_model") == 0.2
    monkeypatch.delenv(PLANT_ENV)
    assert planted_fraction("fsdp2", "get_optim") == 0.0  # an ordinary run plants nothing
    with pytest.raises(ValueError):
        parse_plan('{"save": -1}')


def test_the_spin_stretches_the_op_by_the_fraction():
    t0 = time.perf_counter()
    time.sleep(0.02)
    before = time.perf_counter() - t0
    spin_after(t0, 0.5)
    assert time.perf_counter() - t0 >= 1.5 * before  # the loop ends only past that point


def test_only_side_b_gets_the_plan_and_the_drivers_own_is_dropped(monkeypatch):
    monkeypatch.setenv(PLANT_ENV, '{"save": 1}')  # left in the user's shell: must reach neither side
    args = Namespace(block_rounds=3, plant='{"get_optim": 0.1}')
    assert PLANT_ENV not in side_env("A", "/tmp/x.sock", args)
    assert side_env("B", "/tmp/x.sock", args)[PLANT_ENV] == '{"get_optim": 0.1}'
    ordinary = Namespace(block_rounds=3)  # a compare that calibrate did not start
    assert PLANT_ENV not in side_env("B", "/tmp/x.sock", ordinary)


def _cases(rows):
    columns = ["case", "api", "op", "time_verdict", "ratio", "mde", "peak_rss_verdict", "peak_cuda_verdict"]
    return pd.DataFrame(rows, columns=columns)


def test_judging_counts_detections_false_flags_and_visibility_on_known_truth():
    plan = {"fsdp2:get_optim": 0.10, "set_model": 0.20}
    cases = _cases([
        ["a", "fsdp2", "get_optim", "regression", 1.11, 0.05, "unchanged", None],  # planted, seen
        ["b", "fsdp2", "get_optim", "inconclusive", 1.09, 0.30, "unchanged", None],  # planted, MDE too large
        ["c", "fsdp1", "set_model", "regression", 1.21, 0.15, None, None],  # planted through the op alone
        ["d", "fsdp1", "get_optim", "improvement", 0.90, 0.05, None, None],  # not planted: a false flag
        ["e", "dcp", "save", "unchanged", 1.00, 0.04, "regression", None],  # a false memory flag
        ["f", "dcp", "load", None, None, float("inf"), None, None],  # untimed
    ])
    judged = judge(cases, plan)
    assert (judged["planted_cases"], judged["detected"], judged["visible"]) == (3, 2, 2)
    assert judged["detection_rate"] == pytest.approx(2 / 3)
    assert (judged["false_time_flags"], judged["other_timed_cases"], judged["false_memory_flags"]) == (1, 2, 1)
    assert judged["untestable"] == 0 and judged["mde_quantiles"]["0.5"] == pytest.approx(0.05)


def test_a_calibration_run_plants_into_side_b_only(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "bench.compare.calibrate", "--results-dir", str(tmp_path),
         "--ops", "fsdp2:get_optim=50%",
         "--passes", "2", "--rounds", "3", "--block-rounds", "3", "--", "--mesh", "1", "--model", "dummy",
         "-k", "fsdp2 and sharded and (get_optim or get_model) and dsd", "--warmup-rounds", "0",
         "--ceiling-mib", "8"], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    [folder] = (tmp_path / "compare").iterdir()
    for pass_dir in ("pass01", "pass02"):
        for side, expected in (("a", None), ("b", 0.5)):
            records = {b["extra_info"]["op"]: b["extra_info"] for b in
                       json.loads((folder / pass_dir / f"{side}.json").read_text())["benchmarks"]}
            assert records["get_optim"]["planted_slowdown"] == expected
            assert records["get_model"]["planted_slowdown"] is None
    result = json.loads((folder / "calibrate.json").read_text())
    assert result["plan"] == {"fsdp2:get_optim": 0.5}
    for metric in ("wall", "cpu"):
        judged = result["metrics"][metric]
        assert judged["planted_cases"] == 1 and judged["other_timed_cases"] == 1 and judged["passes"] == 2
    assert "wall: detected" in done.stdout and "cpu: detected" in done.stdout
    assert (folder / "calibrate.txt").read_text().startswith("calibration: side B slowed by fsdp2:get_optim +50%")
