"""The comparison's statistics on data of known truth (tests/noise_model.py: the noise measured on the 2-core VM).

The unit of replication is the run; the family is every time and memory test of one comparison (600 cases, 2 ranks);
Holm at alpha 0.05 bounds the chance that a comparison of a build with itself flags anything.
"""

import dataclasses
import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from analysis.compare import CompareSettings, compare_sides
from analysis.run_tests import RunSamples, run_test
from analysis.stats import moderation_prior, scaled_moderation_prior
from analysis.settled import Sequential
from bench.compare.settle import EARLY_ALPHA, stop_at_look
from tests import noise_model as nm

FLAGS = ("regression", "improvement")


def _flags(comparison) -> int:
    cases = comparison.cases
    return int(cases["time_verdict"].isin(FLAGS).sum() + cases["peak_rss_verdict"].isin(FLAGS).sum())


@pytest.fixture(scope="module")
def matrix():
    return nm.Matrix.draw(np.random.default_rng(0), 600)


def test_a_a_comparisons_flag_anything_in_at_most_5_percent(matrix):
    """200 compares of a build with itself, 4 passes each (compare mode's default). Measured over 4 x 200: 11, 3, 8
    and 5 compares flagged anything (seeds 1, 2, 3 and an earlier stream): 27 of 800, 3.4%. The bound leaves room
    for 200 draws' own spread around a rate of 5% (7% is its 95th percentile)."""
    rng = np.random.default_rng(1)
    flagged = sum(_flags(compare_sides(*nm.passes(matrix, rng, 4))) > 0 for _ in range(200))
    assert flagged <= 14


def test_ten_percent_is_flagged_where_the_mde_says_it_can_be_and_two_percent_is_not(matrix):
    """At a third of today's noise (what issue 13 aims for), the cases whose stated MDE is below 10% catch a 10%
    slowdown in >= 80% (measured 90-94% in three seeds); a 2% slowdown is flagged nowhere (measured 0 of 600)."""
    quiet = nm.Matrix(matrix.medians_s, matrix.run_sd / 3, matrix.bimodal & False, matrix.rss_bytes)
    rng = np.random.default_rng(2)
    cases = compare_sides(*nm.passes(quiet, rng, 4, time_factor=1.10)).cases
    detectable = cases["mde"] < 0.10
    assert detectable.sum() >= 30
    assert (cases.loc[detectable, "time_verdict"] == "regression").mean() >= 0.80
    small = compare_sides(*nm.passes(quiet, rng, 4, time_factor=1.02)).cases
    assert (small["time_verdict"] == "regression").sum() == 0


def test_at_todays_noise_four_passes_cannot_see_ten_percent_and_say_so(matrix):
    """The MDE is honest at full noise too: no case claims < 10%, and cases flagged for a 10% change are rare."""
    cases = compare_sides(*nm.passes(matrix, np.random.default_rng(3), 4, time_factor=1.10)).cases
    assert (cases["mde"] < 0.10).sum() == 0
    assert not (cases["time_verdict"] == "unchanged").any()  # an interval this wide rules no 5% change out


def test_rank_0_memory_growth_of_ten_percent_is_flagged(matrix):
    """Bug 1: each rank is its own series, so rank 0's growth is not diluted by rank 1."""
    cases = compare_sides(*nm.passes(matrix, np.random.default_rng(4), 4, rss_factor=1.10)).cases
    flagged = cases["peak_rss_verdict"] == "regression"
    assert flagged.mean() >= 0.9
    assert set(cases.loc[flagged, "peak_rss_rank"]) == {0}


def test_nightly_history_with_one_odd_night_flags_nothing_and_sees_a_doubling(matrix):
    """Tonight (one run) against 10 nights whose last ran 30% slow in every case. Measured: 0 of 40 flagged
    anything; a doubling is flagged in 98.6% of the cases whose MDE is below 100% (282 of 600 cases)."""
    rng = np.random.default_rng(5)
    flagged = sum(_flags(compare_sides(*nm.history(matrix, rng, 10, odd_night=1.3))) > 0 for _ in range(40))
    assert flagged <= 2
    cases = compare_sides(*nm.history(matrix, rng, 10, time_factor=2.0)).cases
    assert set(cases["design"]) == {"history"}
    detectable = cases["mde"] < 1.0
    assert detectable.sum() >= 100
    assert (cases.loc[detectable, "time_verdict"] == "regression").mean() >= 0.8


def _samples(values, passes=False):
    keys = [f"pass{i:02d}/x.json" if passes else f"run{i}.json" for i in range(len(values))]
    return RunSamples(values=dict(zip(keys, values)), pass_keys={k: k.split("/")[0] if passes else None for k in keys})


def test_without_moderation_the_tests_are_welchs_and_the_paired_t_test():
    rng = np.random.default_rng(6)
    a, b = rng.normal(0, 0.1, 5), rng.normal(0.1, 0.3, 4)
    welch = run_test("welch", _samples(a), _samples(b), (0.0, 0.0))
    assert welch.p == pytest.approx(scipy_stats.ttest_ind(b, a, equal_var=False).pvalue, rel=1e-9)
    a, b = rng.normal(0, 0.1, 4), rng.normal(0.05, 0.1, 4)
    paired = run_test("paired", _samples(a, True), _samples(b, True), (0.0, 0.0))
    assert paired.p == pytest.approx(scipy_stats.ttest_rel(b, a).pvalue, rel=1e-9)


def test_moderation_prior_recovers_the_prior_it_was_drawn_from():
    rng = np.random.default_rng(7)
    s0_sq, d0, df = 0.01, 8.0, 3
    true = s0_sq * d0 / rng.chisquare(d0, 4000)  # scaled inverse chi-square
    observed = true * rng.chisquare(df, 4000) / df
    fitted_s0, fitted_d0 = moderation_prior(observed, [df] * 4000)
    assert fitted_s0 == pytest.approx(s0_sq, rel=0.1)
    assert fitted_d0 == pytest.approx(d0, rel=0.35)
    assert moderation_prior([0.01, 0.0], [3, 3]) == (0.0, 0.0)  # too few to pool


def _one_case(base_logs, new_logs):
    side = lambda logs: {"c": nm._case(0, np.asarray(logs, dtype=float), np.full((len(logs), 2), 2**20),
                                       [f"run{i}.json" for i in range(len(logs))])}
    return compare_sides(side(base_logs), side(new_logs)).cases.iloc[0]


def test_three_identical_samples_a_side_are_not_a_certainty():
    """Bug 2: three equal runs a side and no other case to learn a spread from: nothing to judge by."""
    row = _one_case([math.log(0.010)] * 3, [math.log(0.012)] * 3)
    assert row["time_verdict"] == "inconclusive" and "no spread" in row["why"]
    assert _one_case([math.log(0.010)] * 3, [math.log(0.010)] * 3)["time_verdict"] == "unchanged"


def test_one_run_a_side_is_inconclusive_and_says_why():
    row = _one_case([math.log(0.010)], [math.log(0.020)])
    assert row["time_verdict"] == "inconclusive" and row["design"] == "none" and "one run a side" in row["why"]
    assert row["ratio"] == pytest.approx(2.0) and math.isinf(row["mde"])


def test_unchanged_needs_an_interval_inside_the_band():
    """Weakness 9: a wide interval around 1 is inconclusive; a narrow one is unchanged."""
    wide = _one_case(np.log([0.010, 0.013, 0.008, 0.011]), np.log([0.009, 0.012, 0.0105, 0.0095]))
    narrow = _one_case(np.log([0.0100, 0.0101, 0.0099, 0.0100]), np.log([0.01005, 0.0100, 0.0101, 0.0099]))
    assert wide["time_verdict"] == "inconclusive" and "interval" in wide["why"]
    assert narrow["time_verdict"] == "unchanged"


def test_a_zero_baseline_peak_is_a_rise_not_unchanged():
    """Bug 3: a baseline whose rank 0 peak is 0 bytes in every run, and a new side near 5 MiB, is a regression."""
    rng = np.random.default_rng(8)
    keys = [f"run{i}.json" for i in range(4)]

    def side(rank0_bytes):
        rss = np.column_stack([rank0_bytes, np.full(4, 50 * 2**20) * np.exp(rng.normal(0, 0.01, 4))])
        return {"c": nm._case(0, np.log(0.01 * np.exp(rng.normal(0, 0.02, 4))), rss, keys)}

    row = compare_sides(side(np.zeros(4)), side(5 * 2**20 * np.exp(rng.normal(0, 0.02, 4)))).cases.iloc[0]
    assert row["peak_rss_ratio"] == math.inf
    assert row["peak_rss_verdict"] == "regression" and row["peak_rss_rank"] == 0


def _aa_and_power(matrix, rng, within: bool, compares: int):
    """Compares of a build with itself that flag anything, and the share of a 10% slowdown caught at a third of
    today's noise, each with 4 passes."""
    flagged = sum(_flags(compare_sides(*nm.passes(matrix, rng, 4, within=within))) > 0 for _ in range(compares))
    quiet = nm.Matrix(matrix.medians_s, matrix.run_sd / 3, matrix.bimodal & False, matrix.rss_bytes)
    cases = compare_sides(*nm.passes(quiet, rng, 4, within=within, time_factor=1.10)).cases
    return flagged, float((cases["time_verdict"] == "regression").mean())


def test_a_prior_scaled_by_the_rounds_spread_keeps_the_level_and_sees_more():
    """Where each run says what its rounds predict of its variance (noise_model's `within`, noisy like 6 rounds'),
    the prior follows it: measured (seed 1, 40 compares each) 1 A/A compare flagged anything without it and 2 with it,
    while a 10% slowdown was caught in 22% of the cases without it and 67% with it."""
    matrix = nm.Matrix.draw(np.random.default_rng(0), 200)
    rng = np.random.default_rng(1)
    plain_flagged, plain_caught = _aa_and_power(matrix, rng, False, 30)
    scaled_flagged, scaled_caught = _aa_and_power(matrix, rng, True, 30)
    assert plain_flagged <= 4 and scaled_flagged <= 4  # 30 draws around a rate <= 5%: 4 is above its 95th percentile
    assert scaled_caught >= plain_caught + 0.2


def test_the_scaled_prior_is_chosen_only_where_it_fits_better():
    rng = np.random.default_rng(9)
    scales = np.exp(rng.normal(0, 1.5, 400))  # cases whose variances differ 100-fold
    df = 3
    following = scales * 2.0 * rng.chisquare(df, 400) / df  # twice what the rounds predict, in every case
    s0_sq, d0, scaled = scaled_moderation_prior(following, [df] * 400, scales)
    assert scaled and s0_sq == pytest.approx(2.0, rel=0.2) and d0 > 10  # cautious: measured 17.8
    unrelated = rng.permutation(scales)  # a covariate that says nothing of the variances
    assert not scaled_moderation_prior(following, [df] * 400, unrelated)[2]
    assert not scaled_moderation_prior(following, [df] * 400, np.zeros(400))[2]  # no spread known: plain


def _first_passes(side, passes: int):
    """A case side cut to its first `passes` passes (what a settled case has)."""
    keep = lambda s: RunSamples({k: v for k, v in s.values.items() if int(k[4:6]) <= passes},
                                {k: v for k, v in s.pass_keys.items() if int(k[4:6]) <= passes},
                                {k: v for k, v in s.within.items() if int(k[4:6]) <= passes})
    return dataclasses.replace(side, time=keep(side.time), runs=passes,
                               memory={m: {r: keep(s) for r, s in ranks.items()} for m, ranks in side.memory.items()})


def _sequential(matrix, rng, passes: int, **kwargs):
    """A compare of `passes` passes with the looks after each from the second, as compare mode runs them (settle
    the unchanged, decide the clear changes at the look's share of the early alpha): the final comparison, how many
    case-passes were spent, and the cases decided early."""
    base, new = nm.passes(matrix, rng, passes, within=True, **kwargs)
    record = Sequential(early_alpha=EARLY_ALPHA)
    for done in range(2, passes + 1):
        stopped = record.settled | record.decided
        cut = lambda sides: {c: _first_passes(s, stopped.get(c, done)) for c, s in sides.items()}
        settings = CompareSettings(settled=record.settled, decided=record.decided, early_alpha=EARLY_ALPHA)
        comparison = compare_sides(cut(base), cut(new), settings)
        if done < passes:
            settled, decided, _ = stop_at_look(comparison.cases, comparison.summary["family_size"], done, record,
                                               settings.threshold)
            record.settled = record.settled | {case: done for case in settled}
            record.decided = record.decided | {case: done for case in decided}
    stopped = record.settled | record.decided
    return comparison, sum(stopped.get(c, passes) for c in base), record.decided


def test_settling_cases_early_keeps_the_level_and_spends_passes_on_the_undecided(matrix):
    """The sequential design of compare mode (bench/compare/settle.py) on the noise model, 6 passes: A/A compares
    that flag anything stay within the bound of a fixed design; at a third of today's noise, where most cases
    settle after pass 2, a 10% slowdown in a tenth of the cases is caught as often as the MDE says, and fewer
    case-passes are spent. Measured (seed 10): 0 of 20 A/A compares flagged (none decided anything); 90% of the
    slowed cases caught (10 of the 20 decided early), 136 of the 180 others settled, 62.5% of the case-passes of a
    fixed design spent (65% with settling alone)."""
    small = nm.Matrix(matrix.medians_s[:200], matrix.run_sd[:200], matrix.bimodal[:200], matrix.rss_bytes[:200])
    rng = np.random.default_rng(10)
    assert sum(_flags(_sequential(small, rng, 6)[0]) > 0 for _ in range(20)) <= 3
    quiet = nm.Matrix(small.medians_s, small.run_sd / 3, small.bimodal & False, small.rss_bytes)
    slowed = np.arange(200) % 10 == 0
    comparison, spent, _ = _sequential(quiet, rng, 6, time_factor=np.where(slowed, 1.10, 1.0))
    cases = comparison.cases.set_index("case").loc[[f"case{i}" for i in range(200)]]
    assert spent < 0.8 * 200 * 6
    assert (cases["time_verdict"][slowed] == "regression").mean() >= 0.8
    assert not cases["time_verdict"][~slowed].isin(FLAGS).any()
    assert (cases["why"][~slowed].str.startswith("settled after pass")).sum() > 100


def test_clear_changes_are_decided_early_and_no_unchanged_case_is(matrix):
    """Early decisions on the noise model at a third of today's noise, 6 passes: a doubling in a tenth of the cases
    is flagged and stopped at an interim look in most of them, no unchanged case is decided, and the passes saved
    are the decided cases' (on top of settling's). Measured (seed 11): all 20 doubled cases decided (18 after pass
    3, 2 after pass 4), none of the others, 56% of a fixed design's case-passes spent."""
    small = nm.Matrix(matrix.medians_s[:200], matrix.run_sd[:200] / 3, matrix.bimodal[:200] & False,
                      matrix.rss_bytes[:200])
    rng = np.random.default_rng(11)
    doubled = np.arange(200) % 10 == 0
    comparison, spent, decided = _sequential(small, rng, 6, time_factor=np.where(doubled, 2.0, 1.0))
    cases = comparison.cases.set_index("case").loc[[f"case{i}" for i in range(200)]]
    decided_doubled = [f"case{i}" for i in np.flatnonzero(doubled) if f"case{i}" in decided]
    assert len(decided_doubled) >= 0.5 * doubled.sum(), decided
    assert set(decided) == set(decided_doubled)  # nothing unchanged is ever decided
    assert (cases["time_verdict"][doubled] == "regression").mean() >= 0.9
    assert not cases["time_verdict"][~doubled].isin(FLAGS).any()
    assert all(cases.loc[c, "why"].endswith(f"decided after pass {decided[c]}") for c in decided)
    assert comparison.settings.final_alpha == pytest.approx(0.05 - EARLY_ALPHA)
