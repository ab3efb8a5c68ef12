"""The statistics under analysis/: interval coverage, the rank test, the corrections, against references."""

import math

import numpy as np
import pytest
from scipy.stats import false_discovery_control

from analysis.stats import benjamini_hochberg, geometric_mean, holm, mann_whitney_p, median_ratio_ci


def test_holm_matches_its_definition():
    p = [0.01, 0.04, 0.03, 0.005, 0.5]
    assert holm(p) == pytest.approx([0.04, 0.09, 0.09, 0.025, 0.5])


def test_benjamini_hochberg_matches_scipy():
    p = list(np.random.default_rng(3).uniform(0, 0.2, 40)) + [0.0001, 0.9]
    assert benjamini_hochberg(p) == pytest.approx(list(false_discovery_control(p, method="bh")))


def test_bootstrap_interval_covers_the_true_ratio_about_95_percent_of_the_time():
    rng = np.random.default_rng(7)
    covered = 0
    trials = 200
    for seed in range(trials):
        base = np.exp(rng.normal(0, 0.1, 20))
        new = 1.2 * np.exp(rng.normal(0, 0.1, 20))
        ratio, low, high = median_ratio_ci(base, new, resamples=500, seed=seed)
        assert low <= ratio <= high
        covered += low <= 1.2 <= high
    # percentile bootstrap of medians at n=20 is near nominal; 86% would be a badly built interval
    assert covered / trials >= 0.88


def test_mann_whitney_separates_shifted_samples_and_not_equal_ones():
    rng = np.random.default_rng(1)
    a = rng.normal(1.0, 0.05, 20)
    assert mann_whitney_p(a, a * 1.2) < 1e-4
    assert mann_whitney_p(a, rng.permutation(a)) == pytest.approx(1.0)
    assert mann_whitney_p([1.0, 1.0], [1.0, 1.0]) == 1.0


def test_geometric_mean_of_a_slowdown_and_an_equal_speedup_is_one():
    assert geometric_mean([2.0, 0.5]) == pytest.approx(1.0)
    assert math.isnan(geometric_mean([]))


def test_mann_whitney_is_exact_for_small_samples_with_ties():
    """Weakness 10: at n = 5 with ties the p is a permutation p, not the normal approximation's."""
    from scipy.stats import mannwhitneyu

    base, new = [1.0, 2.0, 2.0, 3.0, 4.0], [3.0, 4.0, 5.0, 5.0, 6.0]
    normal = mannwhitneyu(base, new, method="asymptotic").pvalue
    p = mann_whitney_p(base, new)
    assert p != pytest.approx(normal, rel=0.01)
    assert mann_whitney_p([1.0, 2.0, 3.0], [4.0, 5.0, 6.0]) == pytest.approx(0.1, abs=1e-9)  # 2 of C(6,3) orders


def _welch(base_logs, new_logs):
    from analysis.run_tests import RunSamples, run_test

    side = lambda v: RunSamples(values={f"r{i}": x for i, x in enumerate(v)}, pass_keys={f"r{i}": None for i in range(len(v))})
    return run_test("welch", side(base_logs), side(new_logs), (0.0, 0.0))


def test_run_level_interval_covers_the_true_ratio_about_95_percent_of_the_time():
    rng = np.random.default_rng(17)
    trials, covered, rejected_at_5 = 400, 0, 0
    for _ in range(trials):
        # four processes a side, each with its own speed (sd 15% in log), the new build 1.3x slower
        base = rng.normal(0, 0.15, 4)
        new = math.log(1.3) + rng.normal(0, 0.15, 4)
        low, high = _welch(base, new).interval()
        covered += low <= math.log(1.3) <= high
        rejected_at_5 += _welch(base, rng.normal(0, 0.15, 4)).p < 0.05
    assert 0.92 <= covered / trials <= 0.98
    assert rejected_at_5 / trials <= 0.08  # the same build: about 5% below p 0.05, as it should be
