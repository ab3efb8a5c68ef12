"""The statistics under analysis/: interval coverage, the rank test, the corrections, against references."""

import math

import numpy as np
import pytest
from scipy.stats import false_discovery_control

from analysis.stats import benjamini_hochberg, geometric_mean, holm, mann_whitney_p, median_ratio_ci, run_level_test


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


def test_run_level_test_is_students_t_test_on_the_logs_of_run_medians():
    from scipy.stats import ttest_ind

    base, new = [2.1e-3, 2.3e-3, 2.0e-3, 2.2e-3], [2.6e-3, 2.9e-3, 2.7e-3, 2.5e-3]
    ratio, low, high, p = run_level_test(base, new)
    assert p == pytest.approx(ttest_ind(np.log(new), np.log(base), equal_var=True).pvalue)
    assert ratio == pytest.approx(geometric_mean(new) / geometric_mean(base))
    assert low < ratio < high
    # one run on one side: the spread comes from the other side's runs
    assert run_level_test([2.0e-3], [2.6e-3, 2.9e-3])[3] == pytest.approx(
        ttest_ind(np.log([2.6e-3, 2.9e-3]), np.log([2.0e-3]), equal_var=True).pvalue)
    with pytest.raises(ValueError, match="at least three"):
        run_level_test([1.0], [1.2])
    assert run_level_test([1.0, 1.0], [1.0, 1.0]) == (1.0, 1.0, 1.0, 1.0)
    assert run_level_test([1.0, 1.0], [2.0, 2.0])[3] == 0.0


def test_run_level_interval_covers_the_true_ratio_about_95_percent_of_the_time():
    rng = np.random.default_rng(17)
    trials, covered, rejected_at_5 = 400, 0, 0
    for _ in range(trials):
        # four processes a side, each with its own speed (sd 15% in log), the new build 1.3x slower
        base = np.exp(rng.normal(0, 0.15, 4))
        new = 1.3 * np.exp(rng.normal(0, 0.15, 4))
        ratio, low, high, _p = run_level_test(base, new)
        covered += low <= 1.3 <= high
        rejected_at_5 += run_level_test(base, np.exp(rng.normal(0, 0.15, 4)))[3] < 0.05
    assert 0.92 <= covered / trials <= 0.98
    assert rejected_at_5 / trials <= 0.08  # the same build: about 5% below p 0.05, as it should be
