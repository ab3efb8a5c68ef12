"""compare on generated runs with known truth: false positives, detection, verdicts, the exit code as a CI gate.

Noise: lognormal round times with a CV of 5% and 5% slow outliers (1.5-3x), as single-rank cases show here.
"""

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.compare import CompareSettings, compare_frames
from analysis.load import frame_of_file
from tests import result_files as rf

ROOT = Path(__file__).resolve().parent.parent
ROUNDS = 20


def _frame(records, hours=0.0):
    return frame_of_file(Path(f"run{hours}.json"), rf.result(records, started_at=rf.run_at(hours)))


def _sides(cases, slowdown, seed, cv=0.05):
    """Base and new runs of `cases` cases whose medians span 1 ms to 1 s; new is `slowdown` times slower."""
    rng = np.random.default_rng(seed)
    medians = np.geomspace(1e-3, 1.0, cases)
    base = [rf.record(rf.case_fields(i), rf.noisy_rounds(rng, m, ROUNDS, cv)) for i, m in enumerate(medians)]
    new = [rf.record(rf.case_fields(i), rf.noisy_rounds(rng, m * slowdown, ROUNDS, cv)) for i, m in enumerate(medians)]
    return _frame(base), _frame(new, 1)


@pytest.mark.parametrize("correction", ["holm", "bh"])
def test_a_a_flags_nothing_and_raw_p_values_are_calibrated(correction):
    flagged = []
    raw_significant = []
    for seed in range(3):
        comparison = compare_frames(*_sides(300, 1.0, seed), CompareSettings(correction=correction))
        flagged.append(int(comparison.cases["verdict"].isin(["regression", "improvement"]).sum()))
        raw_significant.append(float((comparison.cases["p"] < 0.05).mean()))
    assert flagged == [0, 0, 0]
    # the uncorrected test's false positive rate is near its nominal 5%, not far above it
    assert max(raw_significant) <= 0.07, raw_significant


def test_ten_percent_slowdown_in_20_rounds_is_flagged():
    comparison = compare_frames(*_sides(200, 1.10, seed=11))
    share = (comparison.cases["verdict"] == "regression").mean()
    assert share >= 0.85, comparison.summary  # seen: 188 of 200
    assert comparison.summary["geomean_ratio"] == pytest.approx(1.10, abs=0.01)


def test_ten_percent_slowdown_of_a_single_case_is_flagged():
    hits = sum(compare_frames(*_sides(1, 1.10, seed)).cases["verdict"].iloc[0] == "regression" for seed in range(40))
    assert hits >= 37  # seen: 39 of 40


def test_two_percent_slowdown_is_not_flagged():
    comparison = compare_frames(*_sides(200, 1.02, seed=12))
    assert (comparison.cases["verdict"] == "regression").mean() <= 0.02, comparison.summary  # seen: 0 of 200
    # Alone (no correction to share), the observed ratio of a 2% change passes 5% by chance now and then: the
    # median's own noise at CV 5% and 20 rounds is about 2%. Seen here: 3 of 40.
    singles = sum(compare_frames(*_sides(1, 1.02, seed)).cases["verdict"].iloc[0] == "regression" for seed in range(40))
    assert singles <= 4


def _process_runs(cases, runs, slowdown, rng, process_sd, hours, rounds=6):
    """`runs` runs of `cases` cases, each run a process with its own speed: every round of a run is scaled by one
    lognormal factor (sd `process_sd` in log) drawn for that run and case, as one process of one build is here."""
    medians = np.geomspace(1e-3, 1.0, cases)
    frames = []
    for run in range(runs):
        factors = np.exp(rng.normal(0, process_sd, cases))
        records = [rf.record(rf.case_fields(i), rf.noisy_rounds(rng, m * slowdown * f, rounds))
                   for i, (m, f) in enumerate(zip(medians, factors))]
        frames.append(_frame(records, hours + run))
    return pd.concat(frames, ignore_index=True)


def test_differences_between_processes_are_not_flagged_when_runs_are_the_unit():
    rng = np.random.default_rng(23)
    # one process a side, 12 rounds: the rounds share their process's speed, and the rank test takes that for a change
    one_each = compare_frames(_process_runs(300, 1, 1.0, rng, 0.15, 0, rounds=12),
                              _process_runs(300, 1, 1.0, rng, 0.15, 10, rounds=12))
    assert (one_each.cases["unit"] == "round").all()
    assert one_each.cases["verdict"].isin(["regression", "improvement"]).sum() >= 60  # seen: 99 of 300
    for seed in range(3):  # four processes a side, the same build: nothing flagged
        rng = np.random.default_rng(seed)
        comparison = compare_frames(_process_runs(300, 4, 1.0, rng, 0.15, 0),
                                    _process_runs(300, 4, 1.0, rng, 0.15, 10))
        assert (comparison.cases["unit"] == "run").all()
        assert comparison.cases["verdict"].isin(["regression", "improvement"]).sum() == 0
        assert comparison.summary["runs_per_side"] == {"base": 4, "new": 4}
        assert comparison.summary["test_units"] == {"run": 300}


def test_a_change_larger_than_the_spread_between_processes_is_flagged_with_four_runs_a_side():
    rng = np.random.default_rng(31)
    base = _process_runs(100, 4, 1.0, rng, 0.05, 0)
    comparison = compare_frames(base, _process_runs(100, 4, 1.5, rng, 0.05, 10))
    share = (comparison.cases["verdict"] == "regression").mean()
    assert share >= 0.9, comparison.summary  # seen: 99 of 100
    assert comparison.summary["geomean_ratio"] == pytest.approx(1.5, rel=0.03)
    # base ms is the typical run's median: the geometric mean of the four run medians
    row = comparison.cases.iloc[0]
    run_medians = [float(np.median(t)) for t in base[base["case"] == row["case"]]["round_times_s"]]
    assert len(run_medians) == 4
    assert row["base_median_s"] == pytest.approx(math.exp(np.mean(np.log(run_medians))))


def test_improvement_new_missing_and_status_changes():
    rng = np.random.default_rng(5)
    fast = rf.noisy_rounds(rng, 0.010, ROUNDS)
    base = [rf.record(rf.case_fields(0), fast), rf.record(rf.case_fields(1), fast),
            rf.record(rf.case_fields(2), fast), rf.record(rf.case_fields(3), fast)]
    new = [rf.record(rf.case_fields(0), [t * 0.7 for t in rf.noisy_rounds(rng, 0.010, ROUNDS)]),
           rf.record(rf.case_fields(2), [], status="error", message="rank 1 died with SIGSEGV"),
           rf.record(rf.case_fields(3), rf.noisy_rounds(rng, 0.010, ROUNDS)),
           rf.record(rf.case_fields(4), fast)]
    comparison = compare_frames(_frame(base), _frame(new, 1))
    verdicts = dict(zip(comparison.cases["case"], comparison.cases["verdict"]))
    ids = [rf.case_fields(i)["case_id"] for i in range(5)]
    assert [verdicts[i] for i in ids] == ["improvement", "missing", "status changed", "unchanged", "new"]
    # ok -> error fails the gate as a regression would; a case that ran before and is gone does not
    assert list(comparison.flagged_regressions["case"]) == [ids[2]]


def test_memory_growth_is_flagged_by_the_same_rule_when_runs_are_pooled():
    rng = np.random.default_rng(9)
    mib = 2**20

    def runs(peak_mib, offset):
        return [_frame([rf.record(rf.case_fields(0), rf.noisy_rounds(rng, 0.01, ROUNDS),
                                  peak_rss_bytes=[int((peak_mib + rng.normal(0, 1)) * mib) for _ in range(2)])],
                       offset + k) for k in range(5)]

    base, grown, same = pd.concat(runs(100, 0)), pd.concat(runs(130, 10)), pd.concat(runs(100, 20))
    assert compare_frames(base, grown).cases["peak_rss_verdict"].iloc[0] == "regression"
    assert compare_frames(base, same).cases["peak_rss_verdict"].iloc[0] == "unchanged"
    assert compare_frames(base, grown).summary["flagged_regressions"] == 1


def _write_sides(tmp_path, slowdown):
    base, new = _sides(30, slowdown, seed=21)
    files = []
    for name, frame, hours in (("base", base, 0), ("new", new, 1)):
        records = [{k: row[k] for k in rf.record(rf.case_fields(0), [0.1]).keys()} for _, row in frame.iterrows()]
        files.append(rf.write(tmp_path / name / "run.json", rf.result(records, started_at=rf.run_at(hours))))
    return files


@pytest.mark.parametrize("slowdown,exit_code", [(1.0, 0), (1.3, 1)])
def test_cli_exit_code_is_a_ci_gate_and_folders_are_accepted(tmp_path, slowdown, exit_code):
    _write_sides(tmp_path, slowdown)
    done = subprocess.run([sys.executable, "-m", "analysis", "compare", str(tmp_path / "base"),
                           str(tmp_path / "new"), "--threshold", "5%"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == exit_code, done.stderr
    assert "geometric mean of new/base" in done.stdout and "95% CI" in done.stdout


@pytest.mark.parametrize("fmt", ["markdown", "json"])
def test_cli_markdown_and_json_formats(tmp_path, fmt):
    base, new = _write_sides(tmp_path, 1.3)
    done = subprocess.run([sys.executable, "-m", "analysis", "compare", str(base), str(new), "--format", fmt],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    if fmt == "json":
        out = json.loads(done.stdout)
        assert out["summary"]["verdicts"]["regression"] >= 25 and len(out["cases"]) == 30
        assert {"ratio", "ci_low", "ci_high", "p", "p_adj", "verdict"} <= set(out["cases"][0])
    else:
        assert done.stdout.startswith("| case | base ms |") and "|---|" in done.stdout


def test_runs_with_nothing_timed_compare_without_error(tmp_path):
    empty = rf.write(tmp_path / "empty.json", rf.result([]))
    untimed = rf.write(tmp_path / "untimed.json", rf.result(
        [rf.record(rf.case_fields(0), [], status="unsupported", message="torch refuses")], started_at=rf.run_at(1)))
    for base, new in ((empty, empty), (empty, untimed), (untimed, untimed)):
        done = subprocess.run([sys.executable, "-m", "analysis", "compare", str(base), str(new)], cwd=ROOT,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0 and not done.stderr, done.stderr
    assert "1 unchanged" in done.stdout and "(unsupported -> unsupported)" in done.stdout


def test_compare_warns_when_runs_are_not_comparable(tmp_path):
    """Machine, cores, thread settings, profile, round settings and suite commit must agree; torch may differ."""
    from tests.conftest import ROOT
    from tests.result_files import case_fields, record, result, write

    def run_file(name, torch_version="2.13.0+cpu", **run_changes):
        data = result([record(case_fields(0), [0.01] * 5)], torch_version=torch_version)
        data["run"]["threads"] = {"rule": "cores // ranks", "environment": {"OMP_NUM_THREADS": None}}
        for key, value in run_changes.items():
            data["run"][key] = {**data["run"].get(key, {}), **value} if isinstance(value, dict) else value
        return str(write(tmp_path / name, data))

    def warnings(base, new, fmt="text"):
        done = subprocess.run([sys.executable, "-m", "analysis", "compare", base, new, "--format", fmt], cwd=ROOT,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        said = [line.removeprefix("warning: ") for line in done.stderr.splitlines()]
        return said, done.stdout

    same, stdout = warnings(run_file("a.json"), run_file("b.json", torch_version="2.14.1"))
    assert same == [] and "warning" not in stdout  # another torch is what a comparison is for
    said, stdout = warnings(run_file("a.json"), run_file("c.json", machine={"cores": 16},
                                                         threads={"environment": {"OMP_NUM_THREADS": "4"}},
                                                         suite={"commit": "c" * 40}))
    assert said == ["runs not comparable: cores differs: base 2, new 16",
                    "runs not comparable: thread settings differs: base 'cores // ranks; no thread variables set', "
                    "new 'cores // ranks; OMP_NUM_THREADS=4'",
                    f"runs not comparable: suite commit differs: base '{'b' * 40}', new '{'c' * 40}'"]
    assert all(f"warning: {line}" in stdout for line in said)
    _, as_json = warnings(run_file("a.json"), run_file("d.json", profile="nightly"), "json")
    assert json.loads(as_json)["summary"]["comparability_warnings"] == [
        "runs not comparable: profile differs: base 'quick', new 'nightly'"]
