"""The benchmark: one parametrized test per case of the matrix (see bench/plugin/hooks.py and bench/ops/matrix.py).

Each case runs all its rounds inside its world of ranks; the round times the ranks measured are then replayed to
pytest-benchmark through a clock that advances by exactly those times, so its statistics are the ranks' own.
"""

from __future__ import annotations

import pytest

from bench.ops.matrix import Case


class ReplayClock:
    """A timer for pytest-benchmark whose value advances only when `advance` replays the next measured round."""

    def __init__(self) -> None:
        self.now = 0.0
        self._pending: list[float] = []

    def __call__(self) -> float:
        return self.now

    def load(self, samples: list[float]) -> None:
        self._pending = list(samples)

    def advance(self) -> None:
        self.now += self._pending.pop(0)


REPLAY_CLOCK = ReplayClock()


@pytest.mark.benchmark(timer=REPLAY_CLOCK, disable_gc=False, warmup=False)
@pytest.mark.filterwarnings("ignore:Benchmark fixture was not used")  # cases that torch refused or that failed
def test_state_dict(benchmark, bench_session, save_progress, api, op, state_dict_type, options, model, mesh_shape):
    case = Case(api=api, op=op, state_dict_type=state_dict_type, options=tuple(sorted(options.items())),
                model=model, mesh_shape=tuple(mesh_shape))
    record = bench_session.measure(case)
    benchmark.group = f"{api} {op}"
    if record["rank_times_s"]:
        benchmark.extra_info.update(record)
        REPLAY_CLOCK.load(record["round_times_s"])
        benchmark.pedantic(REPLAY_CLOCK.advance, rounds=len(record["round_times_s"]), iterations=1)
    unsaved = save_progress()  # the result file on disk now holds this case too
    if unsaved:  # a full or vanished results folder fails the case, not the run
        for target in (record, benchmark.extra_info):
            target.update(status="error", message=unsaved)
            target.pop("known_bug", None)  # the suite's failure, whatever torch did
    known_bug = record.get("known_bug") or {}
    if known_bug.get("reproduced"):  # the torch bug the table expects here: xfailed, the run is not failed by it
        pytest.xfail(f"{known_bug['note']}; {record['status']}: {record['message'][:300]}")
    if known_bug.get("reproduced") is False and record["status"] == "ok":  # strict: a fix landed, fail the run
        pytest.fail(f"[XPASS(strict)] {known_bug['note']}", pytrace=False)
    if record["status"] == "skipped":
        pytest.skip(f"skipped: {record['message']}")
    if record["status"] == "unsupported":
        pytest.skip(f"unsupported: {record['message'][:300]}")
    if record["status"] in ("error", "timeout"):
        note = f" ({known_bug['note']})" if known_bug else ""
        pytest.fail(f"{record['status']}: {record['message']}{note}", pytrace=False)
