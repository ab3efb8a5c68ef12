"""The result file's format, in one place: every field of a case's record and of the file's `run` object, with its
unit, and the schema version. The writer (bench/results/record.py, bench/run/run_info.py), the reader
(bench/results/reader.py), resume, the summary and analysis/ all take the format from here. Pure Python: no torch.

A file is pytest-benchmark's JSON (`benchmarks`, `machine_info`, `commit_info`, `datetime`, `version`) plus the
suite's `run` object and `untimed_cases` (cases with no round times). A record sits in a benchmark's `extra_info`
or an untimed case's. Lists "per rank" are indexed by rank; "rounds x ranks" are a list per measured round.

Versions: 1, the first files (2026-11); 2 (2026-12-03) adds nothing a version-1 reader needs but declares what had
been added since under version 1: CPU time, I/O, instructions, spans, the planted slowdown, the run's wall-time
accounting and noise state. A version-1 file still loads: every field added since is optional to the reader.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.metrics import METRICS

SCHEMA_VERSION = 2
READABLE_SCHEMA_VERSIONS = (1, 2)
STATUSES = ("ok", "unsupported", "error", "timeout", "skipped")
"""ok: measured; unsupported: torch refused the combination (its message kept); error: a rank raised or died;
timeout: a rank hung; skipped: the suite did not run it (its memory need exceeds the machine, or no GPU)."""
XFAIL = "xfail"
"""How a case whose known torch bug reproduced is counted and shown (run.status_counts, summaries, comparisons),
apart from failures; its record keeps torch's own status and message (bench/config/known_bugs.py)."""


def counted_status(record: dict) -> str:
    """The status a case is counted under: XFAIL where a known torch bug reproduced, else its status. A record of a
    file from before `reproduced` had its `known_bug` only when the case failed."""
    bug = record.get("known_bug")
    return XFAIL if bug and bug.get("reproduced", True) else record["status"]

SIMULATED_RANK = 0
"""The rank a simulated world's one process plays: the coordinator, which also holds the largest shard of an uneven
dim 0."""
SIMULATED_LABEL = "simulated (fake PG)"
"""How charts and tables name a record of a simulated world (one that is `simulated`)."""
SIMULATED_MEANING = (f"one process played rank {SIMULATED_RANK} of a world of N ranks on torch's fake process "
                     "group: it shards as at N ranks, so its rank-local work is real; collectives return at once, "
                     "so their cost is in no figure")
"""What a simulated record is, said once: the schema, the summary and the report all say it in these words (how it
is done: bench/rank/simulated.py)."""


@dataclass(frozen=True)
class Field:
    unit: str
    """s, bytes, GB/s, count, fraction, or '-' for a label or flag."""
    meaning: str


RECORD_FIELDS: dict[str, Field] = {
    # what the case is
    "schema_version": Field("-", "the version of this format the record was written in"),
    "case_id": Field("-", "the case's id, stable across runs: api-op-type-options-model-mesh"),
    "api": Field("-", "fsdp1, fsdp2, dcp, torch_save or null"),
    "op": Field("-", "the operation, e.g. get_model, set_optim, save, load, async_save, serialize, plan"),
    "state_dict_type": Field("-", "sharded, full or local"),
    "options": Field("-", "the case's options, with what the rank actually used (effective options) merged in"),
    "model": Field("-", "the zoo model (models/zoo.py)"),
    "model_scale": Field("-", "a scaled variant of a real model (models/catalog.py): {of, width_divisor, layers, "
                              "of_layers}; null for any other model"),
    "params": Field("count", "parameters of the unsharded model"),
    "tensors": Field("count", "tensors in the state dict (the largest count of any rank)"),
    "uneven": Field("-", "whether the model's dim 0 does not divide by the world size"),
    "world_size": Field("count", "ranks of the world (of the simulated world, for a simulated case)"),
    "mesh_shape": Field("-", "the device mesh, e.g. [2] or [2, 2]"),
    "device": Field("-", "cpu or cuda"),
    "backend": Field("-", "the process group's backend: gloo, nccl or fake"),
    "dtype": Field("-", "the parameters' dtype"),
    "threads_per_rank": Field("count", "torch threads of each rank"),
    "simulated": Field("-", f"{SIMULATED_MEANING} (true), or a real world (false)"),
    "simulated_rank": Field("-", "the rank a simulated world's process played; null for real worlds"),
    # how it went
    "status": Field("-", "one of STATUSES"),
    "message": Field("-", "torch's message, the failing rank and traceback, or the notes of the check; empty if none"),
    "known_bug": Field("-", "a case a known torch bug hits (bench/config/known_bugs.py): {issue, number, summary, "
                            "torch_versions, symptom, reproduced (true, false, or null: not run), note}"),
    "correct": Field("-", "the loaded state equals what was saved (true), differs (false: status error), or unchecked"),
    # time
    "warmup_rounds": Field("count", "untimed rounds before the measured ones"),
    # every metric's fields: wall time, CPU time, I/O, instructions (bench/metrics)
    **{name: Field(unit, meaning) for metric in METRICS for name, (unit, meaning) in metric.fields.items()},
    "spans_s": Field("s", "per rank, where its time in the case went: setup, warmup, rounds, memory_round, checks"),
    "setup_s": Field("s", "per rank, building the model and state before the rounds"),
    "phases_s": Field("s", "per phase of the op (e.g. plan, write, blocking), rounds x ranks"),
    "phase_details_s": Field("s", "per sub-phase (e.g. staging), rounds x ranks"),
    "phase_medians_s": Field("s", "per phase, the median over rounds of the slowest rank"),
    "phase_detail_medians_s": Field("s", "per sub-phase, the median over rounds of the slowest rank"),
    "phases_cover": Field("fraction", "per rank, the median over rounds of the phases' sum over the round's time"),
    "phases_add_up": Field("-", "every round's phases sum to its time within tolerance; null without phases"),
    "blocking_median_s": Field("s", "async_save only: the median time the caller was blocked"),
    "staging_median_s": Field("s", "async_save only: the median time of staging the state to host memory"),
    "planted_slowdown": Field("fraction", "calibrate's side B only: the slowdown planted into the timed rounds"),
    # bytes and memory
    "bytes_global": Field("bytes", "bytes of the whole state dict (all ranks' shards, once)"),
    "bytes_per_rank": Field("bytes", "per rank, bytes of its local state dict"),
    "throughput_gbps": Field("GB/s", "bytes_global / median round time; null where no bytes move"),
    "peak_rss_bytes": Field("bytes", "per rank, peak resident memory in the memory round above that just before it"),
    "peak_cuda_bytes": Field("bytes", "per rank, peak CUDA memory allocated in the memory round; null on CPU"),
    "peak_cuda_reserved_bytes": Field("bytes", "per rank, peak CUDA memory reserved; null on CPU"),
    "rss_after_round_bytes": Field("bytes", "resident memory after each round, rounds x ranks (growth across saves)"),
    "rss_growth_per_save_bytes": Field("bytes", "save and async_save: per rank, resident memory growth per save"),
    "extra_per_rank": Field("-", "per rank, the op's own figures (e.g. serialized_bytes, metadata_entries)"),
    # checkpoint I/O
    "bytes_written": Field("bytes", "bytes of the checkpoint on disk"),
    "files_written": Field("count", "files of the checkpoint on disk"),
    "resident_before_read": Field("fraction", "share of the checkpoint's pages in the page cache before a read"),
    "ceiling": Field("-", "the machine ceiling the case's throughput is judged against (run.ceilings)"),
    "fraction_of_ceiling": Field("fraction", "throughput over that ceiling"),
    "write_items_local": Field("count", "DCP planning: write items of all ranks' local plans together"),
    "write_items_global": Field("count", "DCP planning: write items of the global plan"),
    "sequence": Field("count", "the case's place in the run's order"),
}
"""Every field a record may hold. Records written since version 2 hold no other (tests/test_schema.py)."""

WRITTEN_FIELDS = (
    "schema_version", "api", "op", "state_dict_type", "options", "model", "params", "tensors", "uneven",
    "world_size", "mesh_shape", "device", "backend", "dtype", "status", "message", "rank_times_s",
    "bytes_global", "bytes_per_rank", "peak_rss_bytes", "peak_cuda_bytes", "correct",
    "bytes_written", "files_written", "ceiling", "fraction_of_ceiling", "phases_s", "phases_add_up",
    "rss_after_round_bytes", "rss_growth_per_save_bytes", "simulated", "rank_cpu_s", "round_cpu_s", "io_bytes",
    "spans_s",
)
"""Fields the suite writes in every record of this version, whatever the status."""

READ_FIELDS = ("api", "op", "status", "world_size", "mesh_shape", "round_times_s")
"""What a reader needs of every record, of any readable version; the rest is optional to it."""

OPTIONAL_NUMBERS = ("throughput_gbps", "fraction_of_ceiling")
"""Record fields that are a number or null (a case that moves no bytes, a run without ceilings)."""

RUN_FIELDS: dict[str, Field] = {
    "schema_version": Field("-", "the version of this format"),
    "profile": Field("-", "quick, nightly, full, scale or gpu"),
    "settings": Field("-", "the round settings: warm-up, minimum and maximum rounds, budget and timeout per case"),
    "started_at": Field("-", "UTC start time, ISO 8601"),
    "python": Field("-", "the interpreter's version"),
    "torch": Field("-", "torch's version, git version, CUDA and NCCL versions"),
    "machine": Field("-", "host name, system, CPU, cores, memory_bytes, GPUs and driver"),
    "suite": Field("-", "the suite's git commit and whether its tree was dirty"),
    "threads": Field("-", "the thread rule, pinning and the thread variables of the environment"),
    "machine_state": Field("-", "before the run: load, other processes' CPU, steal, and warnings"),
    "noise_during": Field("-", "over the run: steal, iowait, idle shares and the load at its end"),
    "argv": Field("-", "pytest's arguments"),
    "checkpoint": Field("-", "the checkpoint folder and whether saves fsync"),
    "ceilings": Field("GB/s", "measured at the start: memory copy, buffered and fsync'd writes, cold and warm reads"),
    "interleaved": Field("-", "compare mode only: this side, the rounds per turn and the re-warm rounds"),
    "instructions_mode": Field("-", "whether every rank ran under callgrind (--metric instructions)"),
    "launch": Field("-", "a launched world's launcher (torchrun, srun) and its ranks; null for local worlds"),
    "rank_pids": Field("-", "the rank processes' pids"),
    "duration_s": Field("s", "the session's wall time when the file was written"),
    "world_starts": Field("count", "worlds started, restarts after a failure included"),
    "world_start_s": Field("s", "wall time spent starting worlds"),
    "wall_time": Field("s", "where the run's wall time went, part by part (bench/results/wall_accounting.py)"),
    "cases": Field("count", "cases in the file"),
    "status_counts": Field("count", f"cases per status; a case whose known torch bug reproduced counts as {XFAIL}"),
    "complete": Field("-", "every selected case is in the file (false while running or after an interruption)"),
}
"""Every field of the file's `run` object."""
