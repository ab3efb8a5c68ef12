"""The record's phase fields and repeated-save growth, computed from made-up replies with known answers."""

import pytest

from bench.results.phases import by_name, coverage, growth_per_round, medians_of_slowest, phase_fields


def _reply(phases, rss):
    return {"phases_s": phases, "details_s": [{} for _ in phases], "rss_after_round_bytes": rss}


def test_phases_are_arranged_rounds_by_ranks_and_reduced_like_round_times():
    table = by_name([[{"plan": 1.0, "write": 2.0}, {"plan": 3.0, "write": 4.0}],
                     [{"plan": 5.0}, {"plan": 0.5, "write": 1.0}]])
    assert table == {"plan": [[1.0, 5.0], [3.0, 0.5]], "write": [[2.0, None], [4.0, 1.0]]}
    assert medians_of_slowest(table) == {"plan": 4.0, "write": 3.0}  # median of (5, 3) and of (2, 4)


def test_coverage_is_the_share_of_each_ranks_round_the_phases_explain():
    phases = {"a": [[1.0, 1.0], [1.0, 2.0]], "b": [[1.0, 0.0], [1.0, 1.0]]}
    rank_times = [[2.0, 2.0], [2.0, 3.0]]
    assert coverage(phases, rank_times) == [1.0, pytest.approx(0.75)]  # rank 1: median of 0.5 and 1.0


def test_growth_per_save_is_the_least_squares_slope():
    assert growth_per_round([100, 110, 120, 130, 140]) == pytest.approx(10.0)
    assert growth_per_round([100, 100, 100]) == 0.0
    assert growth_per_round([100, None, 120]) == pytest.approx(10.0)
    assert growth_per_round([100]) is None
    # compare mode runs one discarded save after every block of 3 measured ones: growth is per save all the same
    assert growth_per_round([100, 110, 120, 140, 150, 160], [1, 2, 3, 5, 6, 7]) == pytest.approx(10.0)


def test_phase_fields_flag_phases_that_do_not_add_up():
    replies = [_reply([{"plan": 0.5, "write": 0.5}] * 3, [1000, 2000, 3000]),
               _reply([{"plan": 0.2, "write": 0.2}] * 3, [1000, 1000, 1000])]
    rank_times = [[1.0, 1.0]] * 3
    fields = phase_fields("save", replies, rank_times)
    assert fields["phases_cover"] == [1.0, pytest.approx(0.4)]
    assert fields["phases_add_up"] is False  # rank 1's phases leave 60% of its round unexplained
    assert fields["rss_growth_per_save_bytes"] == [pytest.approx(1000.0), 0.0]
    assert fields["rss_after_round_bytes"] == [[1000, 1000], [2000, 1000], [3000, 1000]]
    assert phase_fields("load", replies, rank_times)["rss_growth_per_save_bytes"] is None
