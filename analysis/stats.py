"""Statistics for comparing two sets of samples, as pure functions of numbers (no pandas, no files).

- Descriptive, within one run: the ratio of medians with a bootstrap interval (`median_ratio_ci`) and an exact or
  permutation rank test (`mann_whitney_p`). Rounds of one process are not independent samples of a build, so
  neither decides a verdict (analysis.run_tests does, with the run as the unit).
- Moderation (`moderation_prior`, `moderated_variance`): a case's between-run variance from 2-4 runs is itself very
  noisy; limma's empirical Bayes (Smyth 2004) shrinks it towards a prior fitted to all cases of the comparison, which
  buys the degrees of freedom that a per-case test lacks at family-wise error control over hundreds of cases.
- Corrections for many tests at once (`holm`, `benjamini_hochberg`) and the minimum detectable effect (`mde`).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from scipy.special import digamma, polygamma, stdtr, stdtrit
from scipy.stats import PermutationMethod, mannwhitneyu

BOOTSTRAP_RESAMPLES = 2000
CONFIDENCE = 0.95
POWER = 0.80
"""The power at which a minimum detectable effect is stated."""
EXACT_RANK_TEST_MAX = 12
"""Up to this many samples a side the rank test's p comes from permutations, not the normal approximation."""


def median_ratio_ci(base: Sequence[float], new: Sequence[float], *, resamples: int = BOOTSTRAP_RESAMPLES,
                    confidence: float = CONFIDENCE, seed: int = 0) -> tuple[float, float, float]:
    """(median(new) / median(base), low, high): a percentile bootstrap interval, each side resampled on its own."""
    base_arr, new_arr = np.asarray(base, dtype=float), np.asarray(new, dtype=float)
    if base_arr.size == 0 or new_arr.size == 0:
        raise ValueError("both sides need at least one sample")
    base_median, new_median = float(np.median(base_arr)), float(np.median(new_arr))
    if base_median <= 0:  # from nothing to something is an unbounded rise; nothing to nothing has no ratio
        return (math.inf if new_median > 0 else math.nan), math.nan, math.nan
    ratio = new_median / base_median
    # A fixed seed: the same files give the same interval on every run of the command.
    rng = np.random.default_rng(seed)
    base_medians = np.median(rng.choice(base_arr, size=(resamples, base_arr.size)), axis=1)
    new_medians = np.median(rng.choice(new_arr, size=(resamples, new_arr.size)), axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = new_medians / base_medians
    ratios = ratios[np.isfinite(ratios)]
    if ratios.size == 0:
        return ratio, math.nan, math.nan
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(ratios, [tail, 100 - tail])
    return ratio, float(low), float(high)


def mann_whitney_p(base: Sequence[float], new: Sequence[float]) -> float:
    """Two-sided Mann-Whitney U p-value; 1.0 where there is nothing to test (a side empty or all values equal).
    Small samples get a permutation p (fixed seed), ties or not: the normal approximation is off at n = 5."""
    if len(base) == 0 or len(new) == 0 or len(set(base) | set(new)) < 2:
        return 1.0
    if max(len(base), len(new)) <= EXACT_RANK_TEST_MAX:
        method = PermutationMethod(n_resamples=9999, rng=np.random.default_rng(0))
        return float(mannwhitneyu(base, new, alternative="two-sided", method=method).pvalue)
    return float(mannwhitneyu(base, new, alternative="two-sided").pvalue)


def _trigamma_inverse(y: float) -> float:
    """x with trigamma(x) = y (limma's Newton iteration, converges from x = 0.5 + 1/y)."""
    x = 0.5 + 1 / y
    for _ in range(50):
        tri = float(polygamma(1, x))
        step = tri * (1 - tri / y) / float(polygamma(2, x))
        x += step
        if -step / x < 1e-8:
            break
    return x


def moderation_prior(variances: Sequence[float], dfs: Sequence[float],
                     cautious: bool = False) -> tuple[float, float]:
    """(s0^2, d0): the scaled inverse-chi-square prior of many cases' variances (limma's fitFDist, by moments of
    log variances). d0 = 0 where there is nothing to pool (fewer than 3 positive variances); d0 = inf where the
    variances differ no more than their sampling noise (one common variance). `cautious`: the spread of the prior
    is taken at the upper end of its estimate (plus two standard errors), which keeps d0 finite and small where
    the data cannot tell a common variance from one that differs between cases."""
    s2 = np.asarray(variances, dtype=float)
    d = np.asarray(dfs, dtype=float)
    keep = np.isfinite(s2) & (s2 > 0) & (d > 0)
    s2, d = s2[keep], d[keep]
    if s2.size < 3:
        return 0.0, 0.0
    e = np.log(s2) - digamma(d / 2) + np.log(d / 2)
    e_mean = float(e.mean())
    squares = (e - e_mean) ** 2
    excess = float(squares.sum() / (e.size - 1) - polygamma(1, d / 2).mean())
    if cautious:
        excess += 2 * float(squares.std(ddof=1)) / math.sqrt(e.size)
    if excess <= 0:
        return math.exp(e_mean), math.inf
    d0 = 2 * _trigamma_inverse(excess)
    return math.exp(e_mean + float(digamma(d0 / 2)) - math.log(d0 / 2)), d0


def scaled_moderation_prior(variances: Sequence[float], dfs: Sequence[float],
                            scales: Sequence[float]) -> tuple[float, float, bool]:
    """(s0^2, d0, scaled): the prior of moderation_prior, or, where it fits the variances better (a larger d0),
    one whose s0^2 is a multiple of each case's scale (what its rounds predict of its variance between runs), as
    limma-trend lets the prior follow a covariate (Law et al., Genome Biol. 2014). The choice depends on the
    variances alone, never on the differences between the sides, so a t-test moderated by it keeps its level."""
    plain = moderation_prior(variances, dfs)
    s2, w = np.asarray(variances, dtype=float), np.asarray(scales, dtype=float)
    usable = np.isfinite(s2) & (s2 > 0)
    if not usable.any() or not (np.isfinite(w[usable]) & (w[usable] > 0)).all():
        return (*plain, False)
    ratio = moderation_prior(list(s2[usable] / w[usable]), [d for d, keep in zip(dfs, usable) if keep],
                             cautious=True)
    return (*ratio, True) if ratio[1] > plain[1] else (*plain, False)


def moderated_variance(s2: float, df: float, prior: tuple[float, float]) -> tuple[float, float]:
    """(posterior variance, its degrees of freedom): the case's own variance shrunk towards the prior."""
    s0_sq, d0 = prior
    if d0 == math.inf:
        return s0_sq, math.inf
    if d0 + df <= 0:
        return math.nan, 0.0
    own = s2 * df if df > 0 else 0.0
    return (d0 * s0_sq + own) / (d0 + df), d0 + df


# scipy.special's ufuncs, not scipy.stats.t: the same numbers, a hundred times faster on scalars.
def t_quantile(q: float, df: float) -> float:
    return float(stdtrit(df if math.isfinite(df) else 1e12, q))


def t_two_sided_p(t_stat: float, df: float) -> float:
    return float(2 * stdtr(df if math.isfinite(df) else 1e12, -abs(t_stat)))


def mde(std_error: float, df: float, alpha_per_test: float, threshold: float, power: float = POWER) -> float:
    """Smallest relative change (0.1 = 10%) that the verdict rule flags with `power`: the estimate must pass both the
    threshold and the critical value of a two-sided test at `alpha_per_test`, so the change must lie that far plus
    the power quantile of its standard error above zero. inf where the standard error is unknown."""
    if not (math.isfinite(std_error) and std_error > 0 and df > 0):
        return math.inf
    critical = t_quantile(1 - alpha_per_test / 2, df) * std_error
    return math.exp(max(math.log1p(threshold), critical) + t_quantile(power, df) * std_error) - 1


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values: controls the chance of any false flag among all the tests."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [1.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values: controls the expected share of false flags among the flagged."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i], reverse=True)
    adjusted = [1.0] * m
    running = 1.0
    for position, i in enumerate(order):
        rank = m - position
        running = min(running, p_values[i] * m / rank)
        adjusted[i] = min(1.0, running)
    return adjusted


CORRECTIONS = {"holm": holm, "bh": benjamini_hochberg}


def geometric_mean(values: Sequence[float]) -> float:
    """The mean of many ratios: a 2x slowdown and a 2x speedup average to 1."""
    finite = [v for v in values if v > 0 and math.isfinite(v)]
    return math.exp(sum(math.log(v) for v in finite) / len(finite)) if finite else math.nan
