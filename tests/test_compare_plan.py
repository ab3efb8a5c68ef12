"""Compare mode's --target-mde pilot on numbers of known truth: the pass count it asks for is the smallest at which
the aimed share of cases reaches the target, computed here from scipy's t quantiles, and settled cases count as
reached (they get no further passes)."""

import json
import math

from scipy import stats as st

from bench.compare.plan import TARGET_QUANTILE, passes_for_target, target_passes
from tests import result_files as rf
from tests.test_compare_settle import _folder

ALPHA, THRESHOLD, TARGET = 1e-3, 0.05, 0.10


def _mde_at(se_now: float, df_now: float, done: int, passes: int) -> float:
    """The rule written out again: SE shrinks as sqrt(done / passes), one more degree of freedom per pass."""
    se = se_now * math.sqrt(done / passes)
    df = df_now + passes - done
    return math.exp(max(math.log1p(THRESHOLD), st.t.ppf(1 - ALPHA / 2, df) * se) + st.t.ppf(0.8, df) * se) - 1


def _smallest_passes(se_now: float, df_now: float, done: int, cap: int) -> int:
    return next((n for n in range(done, cap + 1) if _mde_at(se_now, df_now, done, n) <= TARGET), cap)


def test_the_count_is_the_first_at_which_the_cases_reach_the_target():
    se, df, done = 0.04, 3.0, 3
    expected = _smallest_passes(se, df, done, 60)
    assert 3 < expected < 60  # the numbers are chosen so that the answer lies inside the range
    assert passes_for_target([se] * 10, [df] * 10, done, TARGET, ALPHA, THRESHOLD, 60) == expected
    assert passes_for_target([se] * 10, [df] * 10, done, TARGET, ALPHA, THRESHOLD, expected - 1) == expected - 1


def test_the_aimed_share_leaves_out_the_noisiest_tenth():
    quiet, noisy = 0.02, 0.5  # one case in ten is hopeless: the count follows the quiet nine
    ses = [quiet] * 9 + [noisy]
    expected = _smallest_passes(quiet, 3.0, 3, 60)
    assert TARGET_QUANTILE == 0.9
    assert passes_for_target(ses, [3.0] * 10, 3, TARGET, ALPHA, THRESHOLD, 60) == expected
    # two hopeless cases in ten: the aim cannot be met, so the cap
    assert passes_for_target([quiet] * 8 + [noisy] * 2, [3.0] * 10, 3, TARGET, ALPHA, THRESHOLD, 60) == 60


def test_settled_cases_count_as_reached():
    noisy = [0.5]  # the one open case can never reach the target
    assert passes_for_target(noisy, [3.0], 3, TARGET, ALPHA, THRESHOLD, 60) == 60
    # with nine settled, nine of ten have reached it already: no pass beyond those done
    assert passes_for_target(noisy, [3.0], 3, TARGET, ALPHA, THRESHOLD, 60, stopped=9) == 3
    # five settled, four quiet and one hopeless open case: 9 of 10 once the quiet four get there
    ses = [0.03] * 4 + [0.5]
    expected = _smallest_passes(0.03, 3.0, 3, 60)
    assert passes_for_target(ses, [3.0] * 5, 3, TARGET, ALPHA, THRESHOLD, 60, stopped=5) == expected


def test_target_passes_reads_the_folders_settled_cases(tmp_path):
    folder = _folder(tmp_path, 3, 1.5)  # case 0 tight and equal, case 1 slowed and tight, case 2 wildly noisy
    unchanged, noisy = rf.case_fields(0)["case_id"], rf.case_fields(2)["case_id"]
    before, line = target_passes(folder, 3, TARGET, THRESHOLD, "wall", 40)
    assert before == 40 and "(0 stopped early)" in line  # the aim (all 3 of 3) waits for the noisy case: the cap
    (folder / "settled.json").write_text(json.dumps({"metric": "wall", "cases": {unchanged: 2, noisy: 3}}))
    after, line = target_passes(folder, 3, TARGET, THRESHOLD, "wall", 40)
    # the noisy case settled: the tight slowed case is the only open one and has reached the target already
    assert after == 3 and "3 of 3 timed cases (2 stopped early)" in line
