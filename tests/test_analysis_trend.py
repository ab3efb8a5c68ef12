"""trend on generated histories: a step is located within one run of where it was put; flat histories stay flat.

Run-to-run noise: lognormal medians with a 3% CV, and 5% of runs 30% slow (a busy machine).
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from analysis.load import load_frame
from analysis.trend import all_steps, change_points, run_order
from tests import result_files as rf

ROOT = Path(__file__).resolve().parent.parent
RUNS = 30


def _history(rng, step, at, noise=0.03):
    medians = 0.01 * np.exp(rng.normal(0, noise, RUNS)) * np.where(np.arange(RUNS) >= at, 1 + step, 1.0)
    medians[rng.random(RUNS) < 0.05] *= 1.3
    return medians


def test_a_step_is_located_within_one_run():
    rng = np.random.default_rng(0)
    located = 0
    for _ in range(100):
        at = int(rng.integers(5, RUNS - 4))
        located += any(abs(point - at) <= 1 for point in change_points(_history(rng, 0.20, at)))
    assert located >= 88  # seen: 93 of 100


def test_flat_histories_have_few_steps():
    rng = np.random.default_rng(1)
    false_steps = sum(len(change_points(_history(rng, 0.0, RUNS))) for _ in range(100))
    assert false_steps <= 10  # seen: 5 in 100 histories


def _write_history(folder, step_at, cases=3, step=0.25):
    rng = np.random.default_rng(2)
    for run in range(RUNS):
        records = [rf.record(rf.case_fields(i), rf.noisy_rounds(rng, 0.01 * (1 + step * (run >= step_at and i == 0)),
                                                                 10, cv=0.03, outlier_share=0.0))
                   for i in range(cases)]
        git = ("c" if run >= step_at else "a") * 40
        rf.write(folder / f"run{run:02d}.json", rf.result(records, started_at=rf.run_at(run), torch_git=git))


def test_steps_name_the_run_and_the_size(tmp_path):
    _write_history(tmp_path, step_at=17)
    series, steps = all_steps(load_frame(tmp_path))
    assert len(series) == 3 and all(len(h) == RUNS for h in series.values())
    assert [(s.case, s.run_label) for s in steps] == [(rf.case_fields(0)["case_id"], "run17")]
    assert steps[0].change == pytest.approx(0.25, abs=0.04)


def test_order_by_commit_groups_runs_of_one_torch_commit(tmp_path):
    for hours, version, git in ((0, "2.14.0", "b"), (1, "2.13.0", "a"), (2, "2.14.0", "b"), (3, "2.13.0", "a")):
        rf.write(tmp_path / f"v{version}-{hours}.json", rf.result(
            [rf.record(rf.case_fields(0), [0.01] * 3)], started_at=rf.run_at(hours), torch_version=version,
            torch_git=git * 40))
    frame = load_frame(tmp_path)
    labels = dict(zip(frame["run_file"], frame["run_label"]))
    assert [labels[f] for f in run_order(frame, "commit")] == ["v2.13.0-1", "v2.13.0-3", "v2.14.0-0", "v2.14.0-2"]
    assert [labels[f] for f in run_order(frame, "time")] == ["v2.14.0-0", "v2.13.0-1", "v2.14.0-2", "v2.13.0-3"]


def test_cli_reports_each_step(tmp_path):
    _write_history(tmp_path, step_at=12)
    done = subprocess.run([sys.executable, "-m", "analysis", "trend", str(tmp_path), "--format", "json"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["runs"] == RUNS and out["cases"] == 3
    assert [len(h) for h in out["histories"].values()] == [RUNS] * 3
    assert out["histories"][rf.case_fields(0)["case_id"]][0]["run"] == "run00"
    assert [(s["run"], s["torch"][:5]) for s in out["steps"]] == [("run12", "2.13.")]
    text = subprocess.run([sys.executable, "-m", "analysis", "trend", str(tmp_path)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert "run12" in text.stdout and "+2" in text.stdout and "1 step(s)" in text.stdout
    assert text.stdout.startswith("case") and "last/first" in text.stdout.splitlines()[0]
