"""One benchmark run inside pytest: the profile and settings, the pool of worlds, and the records so far."""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

from bench.matrix import Case
from bench.memory_need import device_total_bytes, estimate, host_available_bytes, shortfall
from bench.profiles import Profile, RoundSettings
from bench.record import build_record, model_facts
from bench.run_info import start_run_info
from bench.world import CaseOutcome, World, WorldPool, WorldStartError


def case_timeout_s(settings: RoundSettings, case: Case) -> float:
    """The profile's timeout, longer for models over 10M parameters (setup and rounds grow with size)."""
    params, _ = model_facts(case.model)
    return settings.case_timeout_s * max(1.0, (params or 0) / 10e6)


def record_from_world(world: World | None, case: Case, outcome: CaseOutcome,
                      settings: RoundSettings) -> dict[str, Any]:
    """The case's record, with device, backend, dtype and threads as the world's ranks reported them."""
    ready = world.rank_info[0] if world and world.rank_info else {}  # empty when the world did not start
    return build_record(case, outcome, settings, device=ready.get("device"), backend=ready.get("backend"),
                        dtype=ready.get("dtype"), threads_per_rank=ready.get("threads"))


class BenchSession:
    def __init__(self, profile: Profile, settings: RoundSettings, *, first_sequence: int = 0,
                 host_memory_cap_bytes: int | None = None) -> None:
        self.profile = profile
        self.settings = settings
        self.pool = WorldPool()
        self.records: list[dict[str, Any]] = []
        self.first_sequence = first_sequence
        """Cases already in the file this run resumes: the new records are numbered after them."""
        self.host_memory_cap_bytes = host_memory_cap_bytes
        self.run_info = start_run_info(profile.name, asdict(settings))
        self._began = time.perf_counter()

    def memory_shortfall(self, case: Case) -> str | None:
        need = estimate(case, model_facts(case.model)[0])
        host = host_available_bytes(self.pool.live_rank_pids(), self.host_memory_cap_bytes)
        return shortfall(need, host, device_total_bytes())

    def _run(self, case: Case) -> tuple[World, CaseOutcome]:
        world = self.pool.get(case.mesh_shape)
        try:
            outcome = world.run_case(case.as_spec(), self.settings, case_timeout_s(self.settings, case))
        except WorldStartError as exc:
            outcome = CaseOutcome("error", str(exc), [None] * case.world_size)
        return world, outcome

    def measure(self, case: Case) -> dict[str, Any]:
        reason = self.memory_shortfall(case)  # checked first: a case that cannot fit starts no world
        if reason:
            world, outcome = None, CaseOutcome("skipped", reason, [None] * case.world_size)
        else:
            world, outcome = self._run(case)
        record = record_from_world(world, case, outcome, self.settings)
        # position in the run (a resumed one included): timed and untimed cases live in two lists
        record["sequence"] = self.first_sequence + len(self.records)
        self.records.append(record)
        return record

    def finished_run_info(self) -> dict[str, Any]:
        starts, start_s = self.pool.start_stats()
        counts: dict[str, int] = {}
        for record in self.records:
            counts[record["status"]] = counts.get(record["status"], 0) + 1
        return {**self.run_info, "duration_s": time.perf_counter() - self._began, "world_starts": starts,
                "world_start_s": start_s, "cases": len(self.records), "status_counts": counts,
                "rank_pids": self.pool.rank_pids()}

    def close(self) -> None:
        self.pool.close()
