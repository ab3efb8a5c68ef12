"""One benchmark run inside pytest: the profile and settings, the pool of worlds, and the records so far."""

from __future__ import annotations

import functools
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from bench.metrics import instructions
from bench.machine.ceilings import add_fraction_of_ceiling, measure_ceilings
from bench.machine.checkpoint_files import make_private_dir, remove_tree
from bench.worlds.external_pool import make_pool
from bench.ops.matrix import Case, mesh_label, parse_mesh_label
from bench.config.known_bugs import bugs_of_case, judge, known_bugs
from bench.machine.state import cpu_ticks, noise_during
from bench.config.memory_need import estimate, gpu_count_shortfall, host_available_bytes, shortfall
from bench.machine.gpus import cuda_device_count, device_total_bytes
from bench.config.profiles import Profile, RoundSettings
from bench.results.record import build_record
from bench.results.schema import counted_status
from models.init import model_facts
from bench.run.run_info import start_run_info
from bench.rank.pacing import REWARM_ROUNDS, RunPacer, load_pacer
from bench.results.wall_accounting import WallAccount, process_age_s
from bench.results.outcome import CaseOutcome
from bench.worlds.local import Waiting, World, WorldStartError, say_nothing


class SourceCheckpointError(RuntimeError):
    """The world a resharding load reads from could not save its checkpoint."""


def case_timeout_s(settings: RoundSettings, case: Case, base_params: float = 10e6) -> float:
    """The profile's timeout, longer for models over `base_params` parameters (setup and rounds grow with size)."""
    params, _ = model_facts(case.model)
    scale = max(1.0, (params or 0) / base_params)
    if case.simulated:  # one process does the work of a rank among N; planning grows with N (~12 s a round at 4096)
        scale = max(scale, case.world_size / 256)
    return settings.case_timeout_s * scale


def record_from_world(world: World | None, case: Case, outcome: CaseOutcome,
                      settings: RoundSettings) -> dict[str, Any]:
    """The case's record, with device, backend and threads as the world's ranks reported them; the dtype is the
    case's own."""
    ready = world.rank_info[0] if world and world.rank_info else {}  # empty when the world did not start
    params, uneven = model_facts(case.model)
    return build_record(case, outcome, settings, device=ready.get("device"), backend=ready.get("backend"),
                        dtype=case.dtype, threads_per_rank=ready.get("threads"), params=params, uneven=uneven)


FULL_DISK_BYTES = 1 << 20
REPEATED_SAVES = 5
"""Saves are measured at least this many times in a row, so that host memory growth per save shows as a number."""


def settings_for(case: Case, settings: RoundSettings) -> RoundSettings:
    if case.op not in ("save", "async_save") or settings.min_rounds >= REPEATED_SAVES:
        return settings
    return replace(settings, min_rounds=REPEATED_SAVES, max_rounds=max(settings.max_rounds, REPEATED_SAVES))


def _with_disk_note(message: str, folder: Path) -> str:
    """torch.save reports a full disk as 'unexpected pos N vs M' (torch 2.13): say what the disk says."""
    free = shutil.disk_usage(folder).free
    if free < FULL_DISK_BYTES:
        return f"the checkpoint folder's filesystem is full ({free} bytes free); {message}"
    return message


class BenchSession:
    def __init__(self, profile: Profile, settings: RoundSettings, *, checkpoint_parent: str | None = None,
                 fsync: bool = True, ceiling_bytes: int = 256 * 2**20, first_sequence: int = 0,
                 host_memory_cap_bytes: int | None = None, waiting: Waiting = say_nothing) -> None:
        """`waiting(what)`: a context around each world's start that tells the user what the run waits for."""
        began = time.perf_counter()
        self._process_began = began - (process_age_s() or 0.0)
        self.account = WallAccount()
        """Where the run's wall time went (bench/results/wall_accounting.py); world starts are the pool's own count."""
        self.account.add("startup", began - self._process_began)
        self.profile = profile
        self.settings = settings
        # a pool of local worlds, or the ranks a launcher started (bench/worlds/launched.py)
        self.pool = make_pool(waiting)
        self._simulated_model: str | None = None
        """The model the live simulated world has built: another model gets a fresh process."""
        self.records: list[dict[str, Any]] = []
        self.first_sequence = first_sequence
        """Cases already in the file this run resumes: the new records are numbered after them."""
        self.host_memory_cap_bytes = host_memory_cap_bytes
        self.fsync = fsync
        self.checkpoint_root = make_private_dir(checkpoint_parent)
        """Every case's checkpoint folder lives under this private folder; removed when the session closes."""
        self._sources: dict[tuple[str, tuple[int, ...], str], Path] = {}
        self.known_bugs = known_bugs()
        """The known torch bugs' table (bench/config/known_bugs.py), with any rows STATEDICT_BENCH_KNOWN_BUGS adds."""
        self.device = "cuda" if cuda_device_count() else "cpu"
        """The device the ranks will use, as bench/rank/main.py make_context picks it: what a known bug is matched on."""
        self.pacer: RunPacer | None = load_pacer("parent")
        """A paced run's (compare mode's) pacer, which says when this run may measure (bench/rank/pacing.py)."""
        waited_s = self._wait_turn(self.pacer.before_run_info if self.pacer else None)
        self.run_info = start_run_info(profile.name, asdict(settings))
        self._ticks = cpu_ticks()
        self.run_info["checkpoint"] = {"folder": str(self.checkpoint_root), "fsync": fsync}
        self.run_info["ceilings"] = measure_ceilings(self.checkpoint_root, ceiling_bytes)
        if self.pacer:
            self.run_info["interleaved"] = {**self.pacer.describe(), "rewarm_rounds": REWARM_ROUNDS}
        self.end_turn()
        self._began = time.perf_counter()
        self.account.add("run_info_and_ceilings", self._began - began - waited_s)

    def _wait_turn(self, wait: Callable[[], None] | None) -> float:
        """A paced run: waits for this run's turn; returns the seconds waited, which the account books as
        other_side (another run measured meanwhile)."""
        if wait is None:
            return 0.0
        began = time.perf_counter()
        wait()
        waited_s = time.perf_counter() - began
        self.account.add("other_side", waited_s)
        return waited_s

    def end_turn(self) -> None:
        """After a case (its record written): a paced run lets the others go."""
        if self.pacer:
            self.pacer.end_turn()

    def source_checkpoint(self, model: str, mesh_shape: tuple[int, ...], dtype: str = "float32") -> Path:
        """The checkpoint of `model` in `dtype` saved by the world of `mesh_shape`, saved once per run on first need."""
        key = (model, mesh_shape, dtype)
        if key not in self._sources:
            began, starts_s = time.perf_counter(), self._world_start_s()
            folder = make_private_dir(self.checkpoint_root, prefix=f"source-{model}-{mesh_label(mesh_shape)}-")
            try:
                self.pool.get(mesh_shape).call("bench.ops.dcp:save_source_checkpoint", model=model,
                                               folder=str(folder), dtype=dtype)
            except (RuntimeError, WorldStartError) as exc:
                remove_tree(folder)
                raise SourceCheckpointError(f"saving the checkpoint to load on mesh "
                                            f"{mesh_label(mesh_shape)} failed: {exc}") from None
            finally:
                self.account.add("source_checkpoints", self._net_of_starts(began, starts_s))
            self._sources[key] = folder
        return self._sources[key]

    def _world_start_s(self) -> float:
        return self.pool.start_stats()[1]

    def _net_of_starts(self, began: float, starts_s: float) -> float:
        """Seconds since `began` less the world starts since then (counted as their own part)."""
        return time.perf_counter() - began - (self._world_start_s() - starts_s)

    def memory_shortfall(self, case: Case) -> str | None:
        device_total = device_total_bytes()
        need = estimate(case, model_facts(case.model)[0], cuda=device_total is not None)
        host = host_available_bytes(self.pool.live_rank_pids(case.mesh_shape, case.simulated),
                                    self.host_memory_cap_bytes)
        # a simulated world is one process: it needs no GPU per rank
        gpus_missing = None if case.simulated else gpu_count_shortfall(case.world_size, cuda_device_count())
        return gpus_missing or shortfall(need, host, device_total)

    def _run(self, case: Case) -> tuple[World, CaseOutcome]:
        spec = case.as_spec()
        folder = make_private_dir(self.checkpoint_root, prefix="case-")
        spec.update(checkpoint_dir=str(folder), fsync=self.fsync)
        world = self.pool.get(case.mesh_shape, case.simulated)
        try:
            try:
                saved_on = case.options_dict.get("saved_on")
                if saved_on:
                    spec["source_checkpoint"] = str(self.source_checkpoint(case.model, parse_mesh_label(saved_on),
                                                                           case.dtype))
                    world = self.pool.get(case.mesh_shape)  # the same world, unless the source's start stopped it
                began, starts_s = time.perf_counter(), self._world_start_s()
                outcome = world.run_case(spec, settings_for(case, self.settings),
                                         case_timeout_s(self.settings, case, self.profile.timeout_base_params))
                rank0 = outcome.replies[0] if outcome.replies else None
                self.account.add("messaging", self._net_of_starts(began, starts_s) - self.account.add_rank_reply(rank0))
            except (WorldStartError, SourceCheckpointError) as exc:
                outcome = CaseOutcome("error", str(exc), [None] * case.process_count)
            if outcome.status == "error":
                outcome.message = _with_disk_note(outcome.message, folder)
            return world, outcome
        finally:
            remove_tree(folder)  # also after a failed, killed or interrupted case: nothing is left on disk

    def measure(self, case: Case) -> dict[str, Any]:
        began, starts_s, parts_s = time.perf_counter(), self._world_start_s(), self.account.total()
        try:
            return self._measure(case)
        finally:  # what the parts added during the case do not explain
            added_s = self.account.total() - parts_s
            self.account.add("case_bookkeeping", self._net_of_starts(began, starts_s) - added_s)

    def _measure(self, case: Case) -> dict[str, Any]:
        sequence = self.first_sequence + len(self.records)
        self._wait_turn(functools.partial(self.pacer.before_case, sequence, case.id) if self.pacer else None)
        torch_version = self.run_info["torch"]["version"]
        bugs = bugs_of_case(self.known_bugs, case, self.device, torch_version)  # matched before the case runs
        if case.simulated and case.model != self._simulated_model:
            self.pool.stop_simulated()  # before the memory check: what it held is free again
            self._simulated_model = case.model
        reason = self.memory_shortfall(case)  # checked first: a case that cannot fit starts no world
        if reason:
            world, outcome = None, CaseOutcome("skipped", reason, [None] * case.process_count)
        else:
            world, outcome = self._run(case)
        record = record_from_world(world, case, outcome, self.settings)
        judge(record, bugs, torch_version)
        add_fraction_of_ceiling(record, self.run_info["ceilings"])
        # position in the run (a resumed one included): timed and untimed cases live in two lists
        record["sequence"] = sequence
        self.records.append(record)
        return record

    def finished_run_info(self, writing_s: float = 0.0) -> dict[str, Any]:
        """`writing_s`: the seconds spent rewriting the result file so far (bench/plugin/result_writer.py)."""
        starts, start_s = self.pool.start_stats()
        wall_s = time.perf_counter() - self._process_began
        counts: dict[str, int] = {}
        for record in self.records:
            status = counted_status(record)
            counts[status] = counts.get(status, 0) + 1
        return {**self.run_info, "duration_s": time.perf_counter() - self._began, "world_starts": starts,
                "world_start_s": start_s, "cases": len(self.records), "status_counts": counts,
                "rank_pids": self.pool.rank_pids(), "launch": self.pool.launch_info(),
                "wall_time": self.account.table(wall_s, world_starts=start_s, writing_results=writing_s),
                "instructions_mode": instructions.enabled(), "noise_during": noise_during(self._ticks)}

    def close(self) -> None:
        try:
            self._wait_turn(self.pacer.before_close if self.pacer else None)
        finally:  # also when Ctrl-C or SIGTERM cut that wait short
            began = time.perf_counter()
            self.pool.close()
            self.account.add("closing_worlds", time.perf_counter() - began)
            remove_tree(self.checkpoint_root)
            if self.pacer:
                self.pacer.close()
                self.pacer = None
