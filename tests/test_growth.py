"""The growth exponent of a cost against ranks (analysis/growth.py) on data of known truth."""

import math

import numpy as np
import pytest

from analysis.growth import growth_fit

SIZES = [256, 512, 1024, 2048, 4096, 8192, 16384]


def test_an_exact_power_law_gives_its_exponent_exactly():
    fit = growth_fit(SIZES, [3e-6 * n**1.5 for n in SIZES])
    assert fit.slope == pytest.approx(1.5, abs=1e-9)
    assert fit.low == pytest.approx(1.5, abs=1e-9) and fit.high == pytest.approx(1.5, abs=1e-9)
    assert fit.points == len(SIZES) and fit.superlinear
    assert fit.label() == "N^1.50 [1.50, 1.50] superlinear"


def test_noisy_points_on_n_to_the_1_5_give_an_interval_that_holds_1_5_about_95_in_100_times():
    rng = np.random.default_rng(7)
    fits = [growth_fit(SIZES, [2e-5 * n**1.5 * math.exp(rng.normal(0, 0.15)) for n in SIZES]) for _ in range(400)]
    covered = sum(f.low <= 1.5 <= f.high for f in fits)
    assert 360 <= covered <= 395  # 95% of 400 is 380; binomial sd about 4.4
    assert abs(np.median([f.slope for f in fits]) - 1.5) < 0.02
    assert sum(f.superlinear for f in fits) >= 390  # 1.5 is far enough above 1 for 7 points at 15% noise


def test_linear_growth_with_noise_is_rarely_called_superlinear():
    rng = np.random.default_rng(8)
    fits = [growth_fit(SIZES, [1e-6 * n * math.exp(rng.normal(0, 0.15)) for n in SIZES]) for _ in range(400)]
    assert sum(f.superlinear for f in fits) <= 20  # one tail of a 95% interval: about 2.5%


def test_repeats_at_one_size_count_as_their_median_and_too_few_sizes_give_no_fit():
    fit = growth_fit([4, 4, 4, 16], [1.0, 2.0, 100.0, 8.0])  # median 2 at 4 ranks, 8 at 16: slope 1
    assert fit.slope == pytest.approx(1.0) and fit.points == 2
    assert math.isnan(fit.low) and not fit.superlinear and fit.label() == "N^1.00 (2 points)"
    assert growth_fit([8, 8], [1.0, 2.0]) is None
    assert growth_fit([8, 16], [0.0, float("nan")]) is None  # nothing positive to take a log of
