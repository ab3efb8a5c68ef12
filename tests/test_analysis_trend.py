"""trend on generated histories of known truth: steps decided by a permutation test on the series itself.

The generator (`_series`): one value per run, base * exp(N(0, sigma)) (log-normal run-to-run noise of sigma in log),
times 1 + step from the run `at` on. The figures in the docstrings were measured with these seeds; the asserts leave
a margin. `python3 -m tests.test_analysis_trend` prints the table of docs/trend.md.
"""

import itertools
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.load import load_frame
from analysis.history import run_order
from analysis.trend import ALPHA_STEP, MIN_SEGMENT_RUNS, MIN_STEP, all_steps, change_points, detect_steps
from tests import result_files as rf

ROOT = Path(__file__).resolve().parent.parent
RUNS = 30
SERIES = 200
"""Series per condition."""
NOISES = (0.01, 0.03, 0.10, 0.30)


def _series(rng, runs=RUNS, sigma=0.10, step=0.0, at=None, base=0.01):
    values = base * np.exp(rng.normal(0.0, sigma, runs))
    if at is not None:
        values[at:] *= 1 + step
    return values


def false_step_rate(runs, sigma, series=SERIES):
    rng = np.random.default_rng([1, runs, round(sigma * 1000)])
    return sum(bool(change_points(_series(rng, runs, sigma))) for _ in range(series)) / series


def step_found(step, sigma, at, runs=RUNS, series=SERIES):
    """(share of series with any step, share with a step within one run of `at`, share with exactly that one)."""
    rng = np.random.default_rng([2, runs, at, round(sigma * 1000), round(step * 1000)])
    found = located = alone = 0
    for _ in range(series):
        points = change_points(_series(rng, runs, sigma, step, at))
        near = [p for p in points if abs(p - at) <= 1]
        found += bool(points)
        located += bool(near)
        alone += len(points) == 1 and bool(near)
    return found / series, located / series, alone / series


def oracle_located(step, sigma, at, runs=RUNS, series=20000):
    """Share of series where the one step's place is found within one run by least squares knowing that there is
    one step, its size and the noise: the most any detector can do."""
    rng = np.random.default_rng(3)
    shift = math.log(1 + step)
    logs = rng.normal(0.0, sigma, (series, runs)) + np.where(np.arange(runs) >= at, shift, 0.0)
    costs = np.stack([((logs - np.where(np.arange(runs) >= k, shift, 0.0)) ** 2).sum(axis=1)
                      for k in range(1, runs)], axis=1)
    return float(np.mean(np.abs(costs.argmin(axis=1) + 1 - at) <= 1))


FLAT_SERIES = 400
"""Step-free series per condition: most cost one test, and 200 would measure a 3.5% rate only to +-1.3%."""


@pytest.mark.parametrize("runs", [8, RUNS])
@pytest.mark.parametrize("sigma", NOISES)
def test_step_free_series_rarely_get_a_step_at_any_noise(runs, sigma):
    """The permutation test's level holds whatever the noise (a step-free series is exchangeable). Measured on
    400 series at 1%, 3%, 10%, 30% noise: 8 runs 0%, 0.5%, 1.0%, 0.2%; 30 runs 0%, 1.8%, 3.2%, 2.5% (at 1%
    noise every would-be step is under MIN_STEP). PELT, on these series: 8.3% at 8 runs and 10% noise."""
    assert false_step_rate(runs, sigma, FLAT_SERIES) <= 0.05


@pytest.mark.parametrize("values", [np.random.default_rng(5).normal(0.0, 1.0, 8),
                                    np.random.default_rng(5).standard_cauchy(8),
                                    np.r_[np.random.default_rng(5).normal(0.0, 0.01, 7), 2.0],
                                    np.r_[[1.0] * 4, [1.4] * 4] * np.exp(np.random.default_rng(5).normal(0, 0.01, 8))])
def test_the_level_is_exact_at_8_runs_whatever_the_values(values):
    """At 8 runs every one of the 40320 orders is tried: whatever the 8 values (normal, Cauchy, one far off, a
    step), at most ALPHA_STEP of their orders are significant: 2/70 = 2.9% when the most extreme orders split 4
    and 4, none when they split 3 and 5 (1/28 = 3.6% of the orders)."""
    from analysis.trend import _clip, _statistics, _test

    orders = np.array(list(itertools.permutations(range(8))))
    step, _ = _statistics(_clip(values)[orders])
    p_values = (len(step) - np.searchsorted(np.sort(step), step * (1 - 1e-9))) / len(step)  # each order's
    assert np.mean(p_values <= ALPHA_STEP) <= ALPHA_STEP
    for i in (0, 1, int(np.argmax(step)), 777, 40319):  # _test gives each order that p-value
        assert _test(values[orders[i]])[0] == pytest.approx(p_values[i])


@pytest.mark.parametrize("at", [10, 15, 20])
def test_a_15pct_step_at_10pct_noise_in_30_runs(at):
    """The issue's case, a step of 1.4 noise sigmas. Measured on 200 series, the step at 10, 15, 20: found in
    81.5%, 74%, 75%, within one run in 58%, 52.5%, 50% (PELT: found in 50.5%, 50%, 40%). The issue asked for 90%
    within one run: no detector gets there (next test); 3-sigma steps reach 91.5-96.5% (the test after)."""
    found, located, _ = step_found(0.15, 0.10, at)
    assert found >= 0.65 and located >= 0.42


def test_no_detector_can_locate_a_15pct_step_at_10pct_noise_within_one_run_90pct_of_the_time():
    """Least squares told that there is one step, its size and the noise puts it within one run in 69% of series
    (measured on 20000, at 10, 15 or 20): the place of a 1.4-sigma step is not in the data more precisely."""
    assert 0.60 <= oracle_located(0.15, 0.10, 15) <= 0.75


@pytest.mark.parametrize("step, sigma", [(0.15, 0.05), (0.30, 0.10)])
@pytest.mark.parametrize("at", [10, 15, 20])
def test_a_step_of_three_noise_sigmas_is_found_within_one_run(step, sigma, at):
    """Measured on 200 series: found in 100%, within one run in 91.5-96.5% (the oracle above: 95-96.5%), with no
    other step in 83.5-90% (each part is tested at the same level, so a part can get a false step of its own)."""
    found, located, alone = step_found(step, sigma, at)
    assert found >= 0.97 and located >= 0.88 and alone >= 0.78


def _history(rng, step, at, noise=0.03):
    medians = 0.01 * np.exp(rng.normal(0, noise, RUNS)) * np.where(np.arange(RUNS) >= at, 1 + step, 1.0)
    medians[rng.random(RUNS) < 0.05] *= 1.3
    return medians


def test_a_step_is_located_within_one_run_among_odd_runs():
    """20% step, 3% noise, 5% of runs 30% slow, the step anywhere from run 5 to 25: seen 92 of 100."""
    rng = np.random.default_rng(0)
    located = 0
    for _ in range(100):
        at = int(rng.integers(5, RUNS - 4))
        located += any(abs(point - at) <= 1 for point in change_points(_history(rng, 0.20, at)))
    assert located >= 88


def test_flat_histories_with_odd_runs_have_few_steps():
    rng = np.random.default_rng(1)
    false_steps = sum(len(change_points(_history(rng, 0.0, RUNS))) for _ in range(100))
    assert false_steps <= 8  # seen: 4 in 100 histories (3 with any)


@pytest.mark.parametrize("sigma, most", [(0.01, 0), (0.03, 0.05)])
def test_one_odd_run_makes_no_step(sigma, most):
    """One run 30-100% slow, anywhere (the ends too): clipped at 3 robust sigmas, and one run is never a part of
    its own. Seen at 1% noise: none of 200; at 3% noise: 6 of 200 (the test's level, odd run or not)."""
    rng = np.random.default_rng(6)
    with_step = 0
    for _ in range(200):
        values = _series(rng, RUNS, sigma)
        values[rng.integers(RUNS)] *= rng.uniform(1.3, 2.0)
        with_step += bool(change_points(values))
    assert with_step / 200 <= most


def test_a_step_needs_min_segment_runs_on_each_side():
    rng = np.random.default_rng(7)
    for at in (1, 2, RUNS - 2, RUNS - 1):  # a 50% step with too few runs on one side: at most a step elsewhere
        for _ in range(20):
            assert all(MIN_SEGMENT_RUNS <= p <= RUNS - MIN_SEGMENT_RUNS for p in
                       change_points(_series(rng, RUNS, 0.01, 0.5, at)))
    for _ in range(50):  # many steps, some close together: every level keeps MIN_SEGMENT_RUNS runs
        values = 0.01 * np.exp(rng.normal(0, 0.02, RUNS) + np.cumsum(rng.random(RUNS) < 0.3) * 0.2)
        points = change_points(values)
        assert np.all(np.diff([0, *points, RUNS]) >= MIN_SEGMENT_RUNS)
    assert change_points(_series(rng, RUNS, 0.01, 0.5, RUNS - MIN_SEGMENT_RUNS)) == [RUNS - MIN_SEGMENT_RUNS]


def test_a_step_in_the_newest_three_runs_is_found():
    """The latest 3 nightly runs 30% slower, 3% noise: seen in 100 of 100 (at 10% noise, 60-66%)."""
    rng = np.random.default_rng(14)
    found = sum(change_points(_series(rng, RUNS, 0.03, 0.3, RUNS - 3)) == [RUNS - 3] for _ in range(100))
    assert found >= 95


def test_steps_under_min_step_are_not_reported():
    rng = np.random.default_rng(8)
    small = _series(rng, RUNS, 0.002, MIN_STEP * 2 / 3, 15)  # 10 noise sigmas: significant, but 2%
    assert change_points(small) == []
    assert change_points(_series(rng, RUNS, 0.002, MIN_STEP * 5 / 3, 15)) == [15]


def test_too_short_or_nonfinite_series_have_no_step():
    assert change_points([]) == [] and change_points([0.01] * 5) == []
    for runs in (6, 7):  # the smallest p-value is 0.1: no step, however large
        assert change_points([0.01] * (runs // 2) + [0.03] * (runs - runs // 2)) == []
    eight = 0.01 * np.exp(np.random.default_rng(9).normal(0, 0.01, 8)) * np.r_[[1.0] * 4, [1.4] * 4]
    assert change_points(eight) == [4]
    for bad in (np.nan, np.inf, 0.0, -0.01):
        values = _series(np.random.default_rng(10), RUNS, 0.01, 0.5, 15)
        values[3] = bad
        assert change_points(values) == []
    assert change_points([0.01] * RUNS) == []  # all equal: ties everywhere, no step


def test_two_clear_steps_are_both_found():
    """25% up then up again, and up then back down (a regression and its fix), 3% noise: both found within one run
    in 96 and 100 of 100, with no other step in 89 and 91."""
    rng = np.random.default_rng(11)
    runs = np.arange(RUNS)
    for second in (1.25, 1 / 1.25):
        both = only = 0
        for _ in range(100):
            values = 0.01 * np.exp(rng.normal(0, 0.03, RUNS)) * np.where(runs >= 10, 1.25, 1.0) * \
                np.where(runs >= 20, second, 1.0)
            points = change_points(values)
            found = [any(abs(p - at) <= 1 for p in points) for at in (10, 20)]
            both += all(found)
            only += all(found) and len(points) == 2
        assert both >= 90 and only >= 80


def test_ties_from_a_coarse_clock_still_show_a_step():
    rng = np.random.default_rng(12)
    values = np.round(_series(rng, RUNS, 0.05, 0.3, 12), 3)  # medians to the ms: few distinct values
    assert len(np.unique(values)) < RUNS
    assert change_points(values) == [12]


def test_detect_steps_reports_the_p_value_and_gives_the_same_answer_every_time():
    values = _series(np.random.default_rng(13), RUNS, 0.05, 0.3, 12)
    history = pd.DataFrame({"median_s": values, "run_label": [f"run{i:02d}" for i in range(RUNS)],
                            "run_started_at": pd.date_range("2026-01-01", periods=RUNS, freq="D"),
                            "torch": ["2.13.0 aaaaaaaaaa"] * RUNS})
    steps = detect_steps(history, "case")
    assert [(s.index, s.run_label) for s in steps] == [(12, "run12")]
    assert 0 < steps[0].p_value <= 0.002  # the strongest of 1000 orders, or next to it
    assert steps[0].change == pytest.approx(np.median(values[12:]) / np.median(values[:12]) - 1)
    assert detect_steps(history, "case") == steps
    eight = history.iloc[:8].assign(median_s=[0.01] * 4 + [0.014] * 4)
    assert [s.p_value for s in detect_steps(eight, "case")] == [pytest.approx(2 / 70)]


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


def measure() -> None:
    """The figures of docs/trend.md, with the generator and seeds of these tests."""
    print("| runs | " + " | ".join(f"{s:.0%} noise" for s in NOISES) + " |")
    print("|---|" + "---|" * len(NOISES))
    for runs in (8, RUNS):
        print(f"| {runs} | " + " | ".join(f"{false_step_rate(runs, s, FLAT_SERIES):.1%}" for s in NOISES) + " |")
    print()
    print("| step | noise | at | found | within one run | only that step | oracle within one |")
    print("|---|---|---|---|---|---|---|")
    for step, sigma in ((0.15, 0.10), (0.15, 0.05), (0.30, 0.10)):
        for at in (10, 15, 20):
            found, located, alone = step_found(step, sigma, at)
            print(f"| {step:.0%} | {sigma:.0%} | {at} | {found:.1%} | {located:.1%} | {alone:.1%} | "
                  f"{oracle_located(step, sigma, at):.1%} |")


if __name__ == "__main__":
    measure()
