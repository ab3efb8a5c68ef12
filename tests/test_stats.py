"""Statistics of round times: the values, agreement with pytest-benchmark, the robust spread and the instability
flag."""

import statistics

import numpy as np
import pytest
from pytest_benchmark.stats import Stats

from bench.results.stats import UNSTABLE_RCV, round_times, summarize


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
    # The outlier is kept, not dropped (max, mean, CV); the flag goes by the typical rounds, 10 to 13 ms: MAD 1 ms.
    assert summary.rcv == pytest.approx(1.4826 * 0.001 / 0.012)
    assert summary.unstable


@pytest.mark.parametrize("samples", [[1.0], [1.0, 2.0], [3.0, 1.0, 2.0], [1, 2, 3, 4, 5, 6, 7], [5, 1, 4, 2, 8, 3]])
def test_agrees_with_pytest_benchmark(samples):
    ours = summarize(samples)
    theirs = Stats()
    for s in samples:
        theirs.update(s)
    assert (ours.median_s, ours.q1_s, ours.q3_s, ours.iqr_s) == (theirs.median, theirs.q1, theirs.q3, theirs.iqr)


def test_stable_case_is_not_flagged():
    summary = summarize([1.00, 1.01, 0.99, 1.02, 0.98])
    assert summary.rcv < UNSTABLE_RCV and summary.cv < 0.10 and not summary.unstable


def test_one_slow_round_does_not_make_a_case_unstable():
    summary = summarize([1, 1, 1, 1, 10])
    assert summary.rcv == 0.0 and not summary.unstable  # median 1, MAD 0
    assert summary.cv > 1.0 and summary.max_s == 10  # the CV sees the slow round; nothing is dropped


@pytest.mark.parametrize(("sd", "unstable"), [(0.20, True), (0.05, False)])
def test_robust_cv_estimates_the_cv_of_normal_rounds(sd, unstable):
    samples = [float(x) for x in np.random.default_rng(1).normal(1.0, sd, 4000)]
    summary = summarize(samples)
    assert summary.rcv == pytest.approx(sd, rel=0.08) and summary.rcv == pytest.approx(summary.cv, rel=0.08)
    assert summary.unstable is unstable


def test_robust_cv_is_zero_without_a_spread_to_measure():
    assert summarize([0.0, 0.0, 0.0, 1.0]).rcv == 0.0  # median 0: no relative spread
    assert summarize([0.5]).rcv == 0.0


def test_summary_dict_carries_both_spreads():
    fields = summarize([1.0, 1.02, 0.98]).as_dict()
    assert {"cv", "rcv", "unstable"} <= set(fields) and fields["unstable"] is False
    assert fields["rcv"] == pytest.approx(1.4826 * 0.02 / 1.0) and fields["cv"] == pytest.approx(0.02)


def test_single_round_has_zero_spread():
    summary = summarize([0.5])
    assert summary.stddev_s == 0.0 and summary.cv == 0.0 and summary.rcv == 0.0 and summary.iqr_s == 0.0


def test_round_time_is_the_slowest_rank():
    assert round_times([[0.1, 0.3], [0.2, 0.1]]) == [0.3, 0.2]


@pytest.mark.parametrize("bad", [[], [float("nan")], [-1.0], [float("inf")]])
def test_bad_samples_are_refused(bad):
    with pytest.raises(ValueError):
        summarize(bad)
