"""Compare mode: the turn coordinator's grant order (pure, then over its socket), a real interleaved run of two
sides on the same python, and the driver's bad input."""

import json
import math
import os
import random
import subprocess
import sys
import threading
from datetime import datetime

import pytest

from bench.compare.run import interleaving_line
from bench.compare.turn_server import Coordinator
from bench.compare.turns import (
    TurnClient,
    TurnConfig,
    TurnState,
    alternates,
    config_from_env,
    env_value,
)
from tests.conftest import ROOT


def _turns(state: TurnState, side: str, position: int, count: int) -> None:
    """`count` turns of `side` at `position` where it is not blocked; asserts it is never blocked."""
    state.at(side, position)
    for _ in range(count):
        assert state.may_grant(side)
        state.grant(side)
        state.release(side)


def test_grant_rule_alternates_a_first_within_a_case():
    state = TurnState()
    state.at("A", 0)
    assert not state.may_grant("A")  # B has not reached case 0 yet: A waits for it
    state.at("B", 0)
    assert not state.may_grant("B") and state.may_grant("A")
    order = []
    for _ in range(4):
        for side in ("A", "B"):
            assert state.may_grant(side) and not state.may_grant("B" if side == "A" else "A")
            state.grant(side)
            assert not state.may_grant("B" if side == "A" else "A")  # nobody while one holds
            state.release(side)
            order.append(side)
    assert order == ["A", "B"] * 4 and state.block_orders() == {"0": order}


def test_a_side_that_ends_early_lets_the_other_run_alone():
    """A case that one side skips (memory check) or fails fast: the other takes all its turns without waiting."""
    state = TurnState()
    state.at("B", 0)
    _turns(state, "A", 0, 1)
    state.end("A")
    state.at("A", 1)
    assert not state.may_grant("A")  # A is ahead: it waits until B has passed case 0
    _turns(state, "B", 0, 4)
    state.end("B")
    state.at("B", 1)
    assert state.may_grant("A")
    assert state.block_orders()["0"] == ["A", "B", "B", "B", "B"]
    assert not alternates(state.block_orders()["0"])


def test_a_side_behind_runs_alone_and_one_that_left_is_never_waited_for():
    state = TurnState()
    state.at("A", 3)
    _turns(state, "B", 1, 3)  # A is ahead at 3: B, at 1, never waits for it
    assert not state.may_grant("A")
    state.grant("B")  # B holds a turn when it dies
    state.leave("B")
    assert state.holder is None and state.may_grant("A")
    _turns(state, "A", 4, 3)


def test_no_deadlock_whatever_the_sides_do():
    """Random case lists (turns per case, skips) and random scheduling: some side can always go on."""
    rng = random.Random(5)
    for _ in range(300):
        positions = list(range(-1, rng.randint(1, 6)))
        plans = {side: [(p, rng.randint(1, 5)) for p in positions if rng.random() > 0.15] for side in ("A", "B")}
        state, cursor = TurnState(), {"A": 0, "B": 0}
        for side in [s for s, plan in plans.items() if not plan]:
            state.leave(side)  # a side with no case at all exits at once (the driver sees its process end)
        while any(cursor[s] < len(plans[s]) for s in plans):
            for side, plan in plans.items():  # each side tells where it is, then asks
                if cursor[side] < len(plan):
                    state.at(side, plan[cursor[side]][0])
            movable = []
            for side, plan in plans.items():
                if cursor[side] >= len(plan):
                    continue
                granted, turns = state.sides[side].granted, plan[cursor[side]][1]
                if granted >= turns or state.may_grant(side):  # it can end its case, or take a turn
                    movable.append(side)
            assert movable, (plans, cursor, state)
            side = rng.choice(movable)
            position, turns = plans[side][cursor[side]]
            if state.sides[side].granted < turns:
                state.grant(side)
                state.release(side)
            if state.sides[side].granted >= turns:
                state.end(side)
                cursor[side] += 1
                if cursor[side] == len(plans[side]):
                    state.leave(side)
        for position, order in state.block_orders().items():
            a, b = order.count("A"), order.count("B")
            if a == b and position != "-1":  # both took all their turns at this case: strictly alternating
                assert alternates(order), order


def test_turn_env_round_trip_and_bad_values():
    config = config_from_env({"STATEDICT_BENCH_TURN": env_value("/tmp/x:y/turn.sock", "B", 3)})
    assert config == TurnConfig("/tmp/x:y/turn.sock", "B", 3)
    assert config_from_env({}) is None
    for bad in ("/tmp/s:C:3", "/tmp/s:A:0", "/tmp/s:A:x"):
        with pytest.raises(ValueError, match="STATEDICT_BENCH_TURN"):
            config_from_env({"STATEDICT_BENCH_TURN": bad})


def _fake_side(coordinator: Coordinator, side: str, cases: list[int], blocks: int, die_at: int | None = None):
    """What a side does over the socket: the parent takes the case's first turn, its rank 0 switches between
    blocks, the parent ends the case. `die_at`: the rank's connection drops while holding a turn in that case."""
    config = TurnConfig(coordinator.socket_path, side, 1)
    parent, rank = TurnClient(config, "parent"), TurnClient(config, "rank")
    try:
        for position in cases:
            parent.at(position, f"case{position}")
            parent.acquire()
            for _ in range(blocks - 1):
                rank.release()
                rank.acquire()
                if die_at == position:
                    rank.close()  # the coordinator must give the turn back
                    rank = TurnClient(config, "rank")
                    break
            parent.end()
    finally:
        parent.close()
        rank.close()


def _run_sides(coordinator: Coordinator, **per_side) -> None:
    threads = [threading.Thread(target=_fake_side, args=(coordinator, side), kwargs=kwargs)
               for side, kwargs in per_side.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert not any(thread.is_alive() for thread in threads), "a side is stuck waiting for its turn"


def test_coordinator_alternates_two_sides_over_its_socket():
    coordinator = Coordinator()
    coordinator.start()
    assert oct(os.stat(coordinator.folder).st_mode & 0o777) == "0o700"
    try:
        _run_sides(coordinator, A={"cases": [0, 1, 2], "blocks": 4}, B={"cases": [0, 1, 2], "blocks": 4})
        orders = coordinator.state.block_orders()
        assert orders == {str(p): ["A", "B"] * 4 for p in range(3)}
        assert "every case A B A B" in interleaving_line(orders, [])
    finally:
        coordinator.close()
    assert not os.path.exists(coordinator.socket_path)


def test_coordinator_survives_a_rank_dying_mid_turn_and_a_side_leaving():
    coordinator = Coordinator()
    coordinator.start()
    try:
        # A's rank dies holding its turn at case 1; A leaves after case 1 while B still has case 2 to run
        _run_sides(coordinator, A={"cases": [0, 1], "blocks": 3, "die_at": 1}, B={"cases": [0, 1, 2], "blocks": 3})
        orders = coordinator.state.block_orders()
        assert orders["0"] == ["A", "B", "A", "B", "A", "B"]
        assert orders["2"] == ["B", "B", "B"]
        assert math.inf == coordinator.state.sides["A"].position  # its parent's connection closed: it left
    finally:
        coordinator.close()


def _driver(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bench.compare.run", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, check=False)


def test_interleaved_run_of_the_same_python_on_both_sides_in_two_passes(tmp_path):
    done = _driver("--a", sys.executable, "--b", sys.executable, "--results-dir", str(tmp_path), "--passes", "2",
                   "--rounds", "4", "--block-rounds", "2", "--label-b", "same", "--", "--mesh", "1", "--model",
                   "dummy", "-k", "fsdp2 and get_model and sharded", "--warmup-rounds", "0", "--ceiling-mib", "8")
    assert done.returncode in (0, 1), done.stdout + done.stderr  # 1 only if the comparison flags a case
    [folder] = (tmp_path / "compare").iterdir()
    assert "_vs_same_" in folder.name  # <UTC>_<label A>_vs_<label B>_<random>
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith("pass")) == ["pass01", "pass02"]
    started = []
    for pass_dir in (folder / "pass01", folder / "pass02"):
        files = {side: json.loads((pass_dir / f"{side}.json").read_text()) for side in ("a", "b")}
        cases = {}
        for side, data in files.items():
            assert data["run"]["complete"] and data["run"]["interleaved"]["side"] == side.upper()
            cases[side] = [b["extra_info"]["case_id"] for b in data["benchmarks"]]
            assert all(len(b["extra_info"]["round_times_s"]) == 4 for b in data["benchmarks"])
            started.append(datetime.fromisoformat(data["run"]["started_at"]))
        assert cases["a"] == cases["b"] and len(cases["a"]) == 2
        turns = json.loads((pass_dir / "turns.json").read_text())
        assert turns["block_orders"] == {"-1": ["A", "B"], "0": ["A", "B", "A", "B"], "1": ["A", "B", "A", "B"]}
        assert turns["mismatched_positions"] == []
    assert min(started[2:]) > max(started[:2])  # pass 2's sides are new runs, started after pass 1's
    assert done.stdout.count("every case A B A B") == 2
    for number, side in ((1, "A"), (2, "B")):  # each side's progress lines, echoed by the driver from its log
        assert f"pass {number}/2 {side}: progress: 2/2 cases (100%)" in done.stdout
    compare_txt = (folder / "compare.txt").read_text()
    assert "base = " in compare_txt and "new = same" in done.stdout
    # the two passes are the samples of the time test, not the 8 rounds a side
    assert "time test on per-run medians (runs a side: base 2, new 2): 2 paired by pass" in compare_txt
    assert "one run a side" not in compare_txt
    assert (folder / "report" / "report.html").exists()
    assert "(2 runs)" in (folder / "report" / "report.html").read_text()


def test_a_pass_that_a_side_does_not_complete_stops_the_run_and_the_complete_passes_are_compared(tmp_path):
    # side B's interpreter runs its first pytest and dies at the start of its second (pass 2), writing nothing
    counter = tmp_path / "pytest-runs"
    crashing = tmp_path / "python-crashing-in-pass-2"
    crashing.write_text(f"""#!/bin/sh
case "$*" in *"-m pytest"*)
  echo x >> {counter}
  if [ "$(wc -l < {counter})" -ge 2 ]; then echo "side B crashed" >&2; exit 3; fi ;;
esac
exec {sys.executable} "$@"
""")
    crashing.chmod(0o755)
    done = _driver("--a", sys.executable, "--b", str(crashing), "--results-dir", str(tmp_path), "--passes", "3",
                   "--rounds", "2", "--block-rounds", "1", "--label-a", "a", "--label-b", "b", "--", "--mesh", "1",
                   "--model", "dummy", "-k", "fsdp2 and get_model and sharded and module_state_dict",
                   "--warmup-rounds", "0", "--ceiling-mib", "8")
    assert done.returncode == 2, done.stdout + done.stderr
    [folder] = (tmp_path / "compare").iterdir()
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith("pass")) == ["pass01", "pass02-incomplete"]
    assert "pass 2/3 B b: no result file (pytest exit code 3): side B crashed" in done.stdout
    assert json.loads((folder / "pass02-incomplete" / "a.json").read_text())["run"]["complete"]  # A ran alone
    assert "pass 2 did not complete on both sides: no further passes" in done.stdout
    assert "comparing the 1 complete pass(es) of 3" in done.stdout
    assert "1 one run a side: nothing can be concluded" in (folder / "compare.txt").read_text()  # pass 1 only


def test_driver_bad_input_is_one_line_exit_2(tmp_path):
    no_torch = tmp_path / "python-without-torch"
    no_torch.write_text(f"#!/bin/sh\nexec {sys.executable} -I -S \"$@\"\n")  # no site-packages: no torch
    no_torch.chmod(0o755)
    results = tmp_path / "results"
    for args, message in [
            (["--a", str(tmp_path / "nope"), "--b", sys.executable], "--a " + str(tmp_path / "nope") + ": no such"),
            (["--a", sys.executable, "--b", str(no_torch)], f"--b {no_torch}: has no torch"),
            (["--a", sys.executable, "--b", sys.executable, "--", "--resume", "x.json"], "--resume is set by"),
            (["--a", sys.executable, "--b", sys.executable, "--rounds", "x"], "argument --rounds: invalid int"),
            (["--a", sys.executable, "--b", sys.executable, "--passes", "0"], "--passes (0) must be between 1 and"),
            (["--a", sys.executable, "--b", sys.executable, "--", "--mesh", "3x"], "mesh '3x'")]:
        done = _driver("--results-dir", str(results), *args)
        assert done.returncode == 2, done.stdout + done.stderr
        assert done.stderr.count("\n") == 1 and done.stderr.startswith("statedict-bench compare: error: "), done.stderr
        assert message in done.stderr, done.stderr
        assert not results.exists() or not any((results / "compare").iterdir())


def test_passes_after_a_case_settles_run_only_the_undecided_ones(tmp_path):
    done = _driver("--a", sys.executable, "--b", sys.executable, "--results-dir", str(tmp_path), "--passes", "3",
                   "--rounds", "3", "--block-rounds", "3", "--", "--mesh", "1", "--model", "dummy", "-k",
                   "fsdp2 and get_model", "--warmup-rounds", "0", "--ceiling-mib", "8")
    assert done.returncode in (0, 1), done.stdout + done.stderr
    [folder] = (tmp_path / "compare").iterdir()
    settled = json.loads((folder / "settled.json").read_text())
    assert settled["metric"] == "wall"
    cases = lambda number: {b["case_id"] for b in _records(folder / f"pass{number:02d}" / "a.json")}
    after_2 = cases(1) - {case for case, after in settled["cases"].items() if after == 2}
    if after_2:  # what pass 3 ran is what had not settled after pass 2, whatever the noise settled
        assert cases(3) == after_2 and len(cases(1)) == 3
        assert f"after pass 2: {3 - len(after_2)} more case(s) settled unchanged" in done.stdout
    else:
        assert "every case stopped after pass 2 (settled or decided): no further passes" in done.stdout
    for case in settled["cases"]:
        assert f"{case} " in (folder / "compare.txt").read_text()


def _records(path):
    data = json.loads(path.read_text())
    return [b["extra_info"] for b in data["benchmarks"]] + [c["extra_info"] for c in data.get("untimed_cases", [])]
