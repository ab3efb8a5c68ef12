"""The core's pacing hook (bench/rank/pacing.py): absent in an ordinary run, loaded by name in a paced one, a bad
name refused in one line; and compare mode's factory answers each role with its pacer."""

import pytest

from bench.rank.pacing import PACER_ENV, load_pacer

CALLS = []


def recording_factory(role):
    CALLS.append(role)
    return f"pacer for {role}"


def test_an_ordinary_run_has_no_pacer(monkeypatch):
    monkeypatch.delenv(PACER_ENV, raising=False)
    assert load_pacer("parent") is None and load_pacer("rank") is None


def test_the_named_factory_makes_each_role_its_pacer(monkeypatch):
    monkeypatch.setenv(PACER_ENV, f"{__name__}:recording_factory")
    CALLS.clear()
    assert load_pacer("parent") == "pacer for parent"
    assert load_pacer("rank") == "pacer for rank"
    assert CALLS == ["parent", "rank"]


@pytest.mark.parametrize("target", ["tests.no_such_module:pacer", f"{__name__}:no_such_factory"])
def test_a_target_that_names_no_pacer_is_one_clear_error(monkeypatch, target):
    monkeypatch.setenv(PACER_ENV, target)
    with pytest.raises(RuntimeError, match=f"^{PACER_ENV}='{target}' names no pacer: ") as refused:
        load_pacer("rank")
    assert "\n" not in str(refused.value)


def test_compare_modes_factory_needs_its_turn_settings(monkeypatch):
    from bench.compare.pacers import PACER_TARGET, pacer
    from bench.compare.turns import TURN_ENV

    monkeypatch.delenv(TURN_ENV, raising=False)
    assert PACER_TARGET == f"{pacer.__module__}:{pacer.__name__}"
    assert pacer("parent") is None and pacer("rank") is None
