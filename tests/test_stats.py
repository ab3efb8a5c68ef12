"""Statistics of round times: the values, agreement with pytest-benchmark, and the instability flag."""

import statistics

import pytest
from pytest_benchmark.stats import Stats

from bench.stats import UNSTABLE_CV, round_times, summarize


def test_summary_values():
    samples = [0.010, 0.012, 0.011, 0.013, 0.050]
    summary = summarize(samples)
    assert summary.rounds == 5
    assert summary.median_s == 0.012
    assert summary.min_s == 0.010 and summary.max_s == 0.050
    assert summary.mean_s == pytest.approx(statistics.fmean(samples))
    assert summary.stddev_s == pytest.approx(statistics.stdev(samples))
    assert summary.cv == pytest.approx(statistics.stdev(samples) / statistics.fmean(samples))
    assert summary.iqr_s == pytest.approx(summary.q3_s - summary.q1_s)
    assert summary.unstable  # the outlier is kept, not dropped, and it makes the case unstable


@pytest.mark.parametrize("samples", [[1.0], [1.0, 2.0], [3.0, 1.0, 2.0], [1, 2, 3, 4, 5, 6, 7], [5, 1, 4, 2, 8, 3]])
def test_agrees_with_pytest_benchmark(samples):
    ours = summarize(samples)
    theirs = Stats()
    for s in samples:
        theirs.update(s)
    assert (ours.median_s, ours.q1_s, ours.q3_s, ours.iqr_s) == (theirs.median, theirs.q1, theirs.q3, theirs.iqr)


def test_stable_case_is_not_flagged():
    summary = summarize([1.00, 1.01, 0.99, 1.02, 0.98])
    assert summary.cv < UNSTABLE_CV and not summary.unstable


def test_single_round_has_zero_spread():
    summary = summarize([0.5])
    assert summary.stddev_s == 0.0 and summary.cv == 0.0 and summary.iqr_s == 0.0


def test_round_time_is_the_slowest_rank():
    assert round_times([[0.1, 0.3], [0.2, 0.1]]) == [0.3, 0.2]


@pytest.mark.parametrize("bad", [[], [float("nan")], [-1.0], [float("inf")]])
def test_bad_samples_are_refused(bad):
    with pytest.raises(ValueError):
        summarize(bad)
