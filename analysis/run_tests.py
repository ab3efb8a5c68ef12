"""Run-level tests of one case: each run (a fresh set of processes) is one sample, summarised by its median.

Why runs and not rounds: a process keeps its own speed for its whole life (where its memory lies, which core its
threads run on), so the rounds of one process share that speed; between fresh processes of one build a case's
median moves by about 9% here where its rounds predict 5% (../shared/DESIGN.md). A test on rounds takes the
difference between two processes for a change.

Designs, chosen by what the runs allow (`choose_design`):
- `paired`: every run of both sides belongs to a pass of compare mode (folder passNN) and two or more passes have
  both sides: the difference of each pass's two runs is one sample (a pass's slow minute hits both sides, so the
  paired spread is about 60% of the unpaired one).
- `welch`: two or more runs a side, unpaired: Welch's t on the difference of means, each side's variance its own.
- `history`: one run against two or more (tonight against the nightly history): the distance of the one run from
  the history's median, against the history's spread (the one run is assumed to share it). One odd night barely
  moves the median; it widens the spread, which makes flags rarer, never more frequent. (A MAD-based spread was
  tried: its few degrees of freedom doubled the MDE on simulated histories.)
- `none`: one run a side: the spread between processes is unknown, nothing can be concluded (verdict inconclusive).

Every variance is moderated (analysis.stats.moderated_variance) with a prior fitted across the cases of the same
metric and design, so that a case with three equal runs is neither a certainty (p = 0) nor left untestable when
the other cases show what a run's spread is. Where every run carries its rounds' own spread (`within`), the prior
may scale with it (`Prior.scaled`, analysis.stats.scaled_moderation_prior): a case whose rounds are quiet is
expected to be quiet between runs too, so a quiet case is not judged by the noisy ones' prior. Values come in on
the test's scale (logs, see analysis.compare).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from analysis.stats import CONFIDENCE, moderated_variance, t_quantile, t_two_sided_p

MEDIAN_VARIANCE_FACTOR = math.pi / 2
"""var(median of N) is about pi/2 x var / N for normal samples (a little less for small N: conservative)."""


@dataclass(frozen=True)
class RunSamples:
    """One side of one case on the test's scale: a value per run, keyed by the run's pass (None outside passes)."""
    values: Mapping[str, float]
    pass_keys: Mapping[str, str | None]
    within: Mapping[str, float] = field(default_factory=dict)
    """Per run, the variance of its value from its own rounds' spread (none where it has no rounds)."""


@dataclass(frozen=True)
class Prior:
    """A design's moderation prior: (s0_sq, d0) for every case, or, `scaled`, s0_sq times each case's within-run
    variance (what its rounds predict)."""
    s0_sq: float
    d0: float
    scaled: bool = False

    def for_scale(self, scale: float) -> tuple[float, float]:
        return (self.s0_sq * scale if self.scaled else self.s0_sq), self.d0


@dataclass(frozen=True)
class RunTest:
    design: str
    estimate: float
    """new - base on the test's scale (a log ratio)."""
    std_error: float
    df: float
    p: float
    """Two-sided; nan where the data cannot be tested (one run a side, no spread at all)."""
    runs_base: int
    runs_new: int

    @property
    def testable(self) -> bool:
        return math.isfinite(self.p)

    def interval(self, confidence: float = CONFIDENCE) -> tuple[float, float]:
        if not self.testable:
            return math.nan, math.nan
        half = t_quantile(1 - (1 - confidence) / 2, self.df) * self.std_error
        return self.estimate - half, self.estimate + half


def choose_design(base: RunSamples, new: RunSamples) -> str:
    if _paired_keys(base, new) is not None:
        return "paired"
    n_base, n_new = len(base.values), len(new.values)
    if n_base >= 2 and n_new >= 2:
        return "welch"
    if min(n_base, n_new) == 1 and max(n_base, n_new) >= 2:
        return "history"
    return "none"


def _paired_keys(base: RunSamples, new: RunSamples) -> list[str] | None:
    keys_b, keys_n = list(base.pass_keys.values()), list(new.pass_keys.values())
    if None in keys_b or None in keys_n or len(set(keys_b)) != len(keys_b) or len(set(keys_n)) != len(keys_n):
        return None
    common = sorted(set(keys_b) & set(keys_n))
    return common if len(common) >= 2 else None


def _paired_differences(base: RunSamples, new: RunSamples) -> np.ndarray:
    """new - base of each pass that both sides ran."""
    by_pass = [{side.pass_keys[run]: value for run, value in side.values.items()} for side in (base, new)]
    return np.array([by_pass[1][k] - by_pass[0][k] for k in _paired_keys(base, new)])


def within_scales(design: str, base: RunSamples, new: RunSamples) -> list[float]:
    """What the rounds predict for each variance of raw_variances (the mean within-run variance of the runs it is
    made of); nan where a run has no rounds' spread."""
    def mean_within(side: RunSamples, runs) -> float:
        spreads = [side.within.get(run, math.nan) for run in runs]
        return float(np.mean(spreads)) if spreads else math.nan

    if design == "paired":
        keys = set(_paired_keys(base, new))
        runs = [[run for run, key in side.pass_keys.items() if key in keys] for side in (base, new)]
        return [mean_within(base, runs[0]) + mean_within(new, runs[1])]
    if design == "welch":
        return [mean_within(side, list(side.values)) for side in (base, new)]
    if design == "history":
        many = max(base, new, key=lambda s: len(s.values))
        return [mean_within(many, list(many.values))]
    return []


def raw_variances(design: str, base: RunSamples, new: RunSamples) -> list[tuple[float, float]]:
    """(variance, df) pairs this case contributes to its design's moderation prior."""
    if design == "paired":
        diffs = _paired_differences(base, new)
        return [(float(diffs.var(ddof=1)), diffs.size - 1)]
    if design == "welch":
        return [(float(np.var(list(s.values.values()), ddof=1)), len(s.values) - 1) for s in (base, new)]
    if design == "history":
        values = np.array(list(max(base, new, key=lambda s: len(s.values)).values.values()))
        return [(float(values.var(ddof=1)), values.size - 1)]
    return []


def run_test(design: str, base: RunSamples, new: RunSamples, prior: Prior | tuple[float, float]) -> RunTest:
    """The case's test under `design`, its variances moderated with `prior` (a plain (s0_sq, d0) or a Prior)."""
    prior = prior if isinstance(prior, Prior) else Prior(*prior)
    priors = [prior.for_scale(scale) for scale in within_scales(design, base, new)]
    n_base, n_new = len(base.values), len(new.values)
    if design == "paired":
        diffs = _paired_differences(base, new)
        variance, df = moderated_variance(float(diffs.var(ddof=1)), diffs.size - 1, priors[0])
        return _t(design, float(diffs.mean()), variance / diffs.size, df, diffs.size, diffs.size)
    if design == "welch":
        sides = [np.array(list(s.values.values())) for s in (base, new)]
        moderated = [moderated_variance(float(v.var(ddof=1)), v.size - 1, side_prior)
                     for v, side_prior in zip(sides, priors)]
        parts = [var / v.size for (var, _), v in zip(moderated, sides)]
        se2 = sum(parts)
        # Welch-Satterthwaite, each side's degrees of freedom its moderated ones
        dfs = [df for _, df in moderated]
        terms = sum(p ** 2 / d for p, d in zip(parts, dfs) if math.isfinite(d) and d > 0)
        df = se2 ** 2 / terms if terms > 0 else (math.inf if math.inf in dfs else 0.0)
        return _t(design, float(sides[1].mean() - sides[0].mean()), se2, df, n_base, n_new)
    if design == "history":
        many, one, sign = (base, new, 1.0) if n_base >= n_new else (new, base, -1.0)
        values = np.array(list(many.values.values()))
        (s2, df_own), = raw_variances(design, base, new)
        variance, df = moderated_variance(s2, df_own, priors[0])
        estimate = sign * (float(next(iter(one.values.values()))) - float(np.median(values)))
        return _t(design, estimate, variance * (1 + MEDIAN_VARIANCE_FACTOR / values.size), df, n_base, n_new)
    return RunTest("none", _mean_difference(base, new), math.nan, 0.0, math.nan, n_base, n_new)


def _mean_difference(base: RunSamples, new: RunSamples) -> float:
    if not base.values or not new.values:
        return math.nan
    return float(np.mean(list(new.values.values())) - np.mean(list(base.values.values())))


def _t(design: str, estimate: float, se2: float, df: float, n_base: int, n_new: int) -> RunTest:
    if not (math.isfinite(se2) and se2 > 0 and df > 0):  # no spread anywhere: nothing to judge a difference by
        return RunTest(design, estimate, math.nan, df, math.nan, n_base, n_new)
    se = math.sqrt(se2)
    return RunTest(design, estimate, se, df, t_two_sided_p(estimate / se, df), n_base, n_new)
