"""compare on generated runs with known truth: false positives, detection, verdicts, the exit code as a CI gate.

Noise: lognormal round times with a CV of 5% and 5% slow outliers (1.5-3x), as single-rank cases show here, and
each run a process with its own speed. The statistics' own known-truth tests on the measured noise are in
tests/test_statistics_truth.py.
"""

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.compare import compare_frames
from analysis.load import frame_of_file
from tests import result_files as rf

ROOT = Path(__file__).resolve().parent.parent
ROUNDS = 20


def _frame(records, hours=0.0):
    return frame_of_file(Path(f"run{hours}.json"), rf.result(records, started_at=rf.run_at(hours)))


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
    # one process a side, 12 rounds: the rounds share their process's speed, so nothing can be concluded
    one_each = compare_frames(_process_runs(300, 1, 1.0, rng, 0.15, 0, rounds=12),
                              _process_runs(300, 1, 1.0, rng, 0.15, 10, rounds=12))
    assert (one_each.cases["design"] == "none").all()
    assert (one_each.cases["verdict"] == "inconclusive").all()
    assert one_each.cases["why"].str.contains("one run a side").all()
    for seed in range(3):  # four processes a side, the same build: nothing flagged, p about uniform
        rng = np.random.default_rng(seed)
        comparison = compare_frames(_process_runs(300, 4, 1.0, rng, 0.15, 0),
                                    _process_runs(300, 4, 1.0, rng, 0.15, 10))
        assert (comparison.cases["design"] == "welch").all()
        assert comparison.cases["verdict"].isin(["regression", "improvement"]).sum() == 0
        assert comparison.summary["runs_per_side"] == {"base": 4, "new": 4}
        assert comparison.summary["designs"] == {"welch": 300}
        # seen: 4.7%, 6% and 9% below 0.05, 1.3-1.7% below 0.01: the moderated prior's variance runs a few percent low
        assert (comparison.cases["p"] < 0.05).mean() <= 0.10
        assert (comparison.cases["p"] < 0.01).mean() <= 0.025


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


def test_improvement_new_missing_and_status_verdicts():
    """Statuses first: a new failure and a fix are flagged, a failure on both sides is known and is not; the time
    test is made and shown for a case whose status changed (bug 4)."""
    rng = np.random.default_rng(5)
    rounds = lambda scale=1.0: [t * scale for t in rf.noisy_rounds(rng, 0.010, ROUNDS, cv=0.01, outlier_share=0)]
    error = lambda i: rf.record(rf.case_fields(i), [], status="error", message="rank 1 died with SIGSEGV")
    base, new = [], []
    for run in range(4):
        base.append(_frame([rf.record(rf.case_fields(0), rounds()), rf.record(rf.case_fields(1), rounds()),
                            rf.record(rf.case_fields(2), rounds()), rf.record(rf.case_fields(3), rounds()),
                            error(5), error(6)], run))
        flaky = error(2) if run == 3 else rf.record(rf.case_fields(2), rounds(1.5))
        new.append(_frame([rf.record(rf.case_fields(0), rounds(0.7)), flaky, rf.record(rf.case_fields(3), rounds()),
                           rf.record(rf.case_fields(4), rounds()), error(5), rf.record(rf.case_fields(6), rounds())],
                          10 + run))
    comparison = compare_frames(pd.concat(base), pd.concat(new))
    cases = comparison.cases.set_index("case")
    ids = [rf.case_fields(i)["case_id"] for i in range(7)]
    assert [cases.loc[i, "verdict"] for i in ids] == ["improvement", "missing", "new failure", "unchanged", "new",
                                                      "known failure", "fixed"]
    assert cases.loc[ids[2], "time_verdict"] == "regression"
    assert cases.loc[ids[2], "ratio"] == pytest.approx(1.5, rel=0.05)
    assert sorted(comparison.flagged_regressions["case"]) == sorted([ids[2], ids[6]])


def test_memory_growth_is_flagged_with_the_runs_as_the_unit():
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


def _write_sides(tmp_path, slowdown, runs=4):
    """Folders base/ and new/ of `runs` runs each, 30 cases, each run a process with its own speed (sd 3%)."""
    rng = np.random.default_rng(21)
    medians = np.geomspace(1e-3, 1.0, 30)
    for name, factor, hours in (("base", 1.0, 0), ("new", slowdown, 10)):
        for run in range(runs):
            records = [rf.record(rf.case_fields(i), rf.noisy_rounds(rng, m * factor * math.exp(rng.normal(0, 0.03)), 6))
                       for i, m in enumerate(medians)]
            rf.write(tmp_path / name / f"run{run}.json", rf.result(records, started_at=rf.run_at(hours + run)))
    return tmp_path / "base", tmp_path / "new"


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
        assert {"ratio", "ci_low", "ci_high", "p", "p_adj", "mde", "design", "verdict"} <= set(out["cases"][0])
    else:
        assert done.stdout.startswith("| case | runs | base ms |") and "|---|" in done.stdout


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


def test_instruction_counts_are_shown_as_counts_not_as_milliseconds(tmp_path):
    """--metric instructions: the table's value columns are millions of instructions, and its rows read them so."""
    counts = [2_800_000.0, 2_810_000.0, 2_790_000.0]
    for side in ("a", "b"):
        for run in range(2):
            record = rf.record(rf.case_fields(1), [0.01, 0.011, 0.012], round_instructions=counts,
                               instructions_stats={"rounds": 3, "median_s": 2_800_000.0})
            rf.write(tmp_path / f"{side}{run}.json", rf.result([record], started_at=rf.run_at(run)))
    base, new = str(tmp_path / "a*.json"), str(tmp_path / "b*.json")
    done = subprocess.run([sys.executable, "-m", "analysis", "compare", base, new, "--metric", "instructions"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert "base M instr" in done.stdout and "new M instr" in done.stdout and "base ms" not in done.stdout, done.stdout
    row = next(line for line in done.stdout.splitlines() if line.startswith(rf.case_fields(1)["case_id"]))
    assert " 2.800 " in row, row  # the median count in millions, not 2800000000 "ms"
    wall = subprocess.run([sys.executable, "-m", "analysis", "compare", base, new], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert "base ms" in wall.stdout and " 11.000 " in wall.stdout  # wall time stays in milliseconds
