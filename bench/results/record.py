"""The result record of one case: every parameter a field of its own, every rank's figures kept.

It goes into pytest-benchmark's `extra_info` (measured cases) or the file's `untimed_cases` list (cases with no
round times: unsupported, error, timeout, skipped). Every field, its unit and the version: bench/results/schema.py.
"""

from __future__ import annotations

from typing import Any

from bench.ops.matrix import Case
from bench.metrics import METRICS, wall
from bench.results.phases import by_name, phase_fields
from bench.config.profiles import RoundSettings
from bench.results.stats import round_times, summarize
from bench.results.outcome import CaseOutcome
from bench.results.schema import SCHEMA_VERSION, SIMULATED_RANK
from models.catalog import model_entry


def _per_rank(replies: list[dict[str, Any] | None], key: str) -> list[Any]:
    return [reply.get(key) if reply else None for reply in replies]


def _extra(replies: list[dict[str, Any] | None], key: str) -> list[Any]:
    return [(reply.get("extra") or {}).get(key) if reply else None for reply in replies]


def _max_or_none(values: list[int | None]) -> int | None:
    known = [v for v in values if v is not None]
    return max(known) if known else None


def _rounds_by_rank(replies: list[dict[str, Any]], key: str) -> list[list[Any]]:
    """Each rank's per-round list under `key` as rounds x ranks."""
    return [list(row) for row in zip(*(reply.get(key) or [] for reply in replies))]


def _metric_fields(replies: list[dict[str, Any]], rounds: int) -> dict[str, Any]:
    """Every metric beside wall time (bench/metrics) of an `ok` case's rounds: counters as {counter: rounds x ranks},
    numbers reduced per round as wall time is (the slowest, or busiest, rank) and summarized; a metric is left out
    where a rank lacks a round of it."""
    fields: dict[str, Any] = {}
    for metric in METRICS:
        if metric is wall.METRIC:
            continue
        key = metric.reply_key
        if metric.counters:
            [name] = metric.fields
            fields[name] = by_name([reply.get(key) or [] for reply in replies])
            continue
        if not all(len(reply.get(key) or []) == rounds and None not in reply[key] for reply in replies):
            continue
        by_rank = _rounds_by_rank(replies, key)
        per_round = round_times(by_rank)
        fields.update({metric.rank_field: by_rank, metric.round_field: per_round,
                       metric.stats_field: summarize(per_round).as_dict()})
    return fields


def _fields_of_every_record(case: Case, outcome: CaseOutcome, settings: RoundSettings, replies: list, *, device: str,
                            backend: str, dtype: str, threads_per_rank: int | None, params: int | None,
                            uneven: bool | None) -> dict[str, Any]:
    """The fields every record has, whatever its status (bench/results/schema.py says what each is); those of an ok
    case's rounds start empty."""
    options = case.options_dict
    for reply in replies:
        if reply:
            options.update(reply.get("effective_options") or {})
    return {
        "schema_version": SCHEMA_VERSION, "case_id": case.id,
        "api": case.api, "op": case.op, "state_dict_type": case.state_dict_type, "options": options,
        "model": case.model, "model_scale": model_entry(case.model).scale() if case.model else None,
        "params": params, "tensors": _max_or_none(_per_rank(replies, "tensors")),
        "uneven": uneven, "world_size": case.world_size, "mesh_shape": list(case.mesh_shape),
        "device": device, "backend": backend, "dtype": dtype, "threads_per_rank": threads_per_rank,
        "status": outcome.status, "message": outcome.message,
        "warmup_rounds": settings.warmup_rounds,
        # every metric's fields (bench/metrics), empty until the rounds fill them; null where only its mode records it
        **{name: value for metric in METRICS for name, value in metric.empty_fields().items()},
        # where each rank's time in the case went (bench/rank/measure.py), the parts of the run's wall-time accounting
        "spans_s": _per_rank(replies, "spans_s"),
        "bytes_global": _max_or_none(_per_rank(replies, "bytes_global")),
        "bytes_per_rank": _per_rank(replies, "bytes_local"),
        "throughput_gbps": None,
        "peak_rss_bytes": _per_rank(replies, "peak_rss_bytes"),
        "peak_cuda_bytes": None, "peak_cuda_reserved_bytes": None,
        "setup_s": _per_rank(replies, "setup_s"),
        "extra_per_rank": _per_rank(replies, "extra"),
        "correct": None,
        # checkpoint I/O: bytes and files on disk, page-cache residency before a read, the matching ceiling
        "bytes_written": _max_or_none(_extra(replies, "bytes_written")),
        "files_written": _max_or_none(_extra(replies, "files_written")),
        "resident_before_read": _max_or_none(_extra(replies, "resident_before_read")),
        "ceiling": None, "fraction_of_ceiling": None,
        "phases_s": {}, "phase_details_s": {}, "phase_medians_s": {}, "phase_detail_medians_s": {},
        "phases_cover": None, "phases_add_up": None, "rss_after_round_bytes": [], "rss_growth_per_save_bytes": None,
        # a simulated world (schema.SIMULATED_MEANING): the per-rank lists hold its one rank, `simulated_rank`
        "simulated": case.simulated, "simulated_rank": SIMULATED_RANK if case.simulated else None,
        "write_items_local": _max_or_none(_extra(replies, "write_items_local")),
        "write_items_global": _max_or_none(_extra(replies, "write_items_global")),
        # calibrate's side B only (bench/rank/planted.py): the known slowdown planted into this case's timed rounds
        "planted_slowdown": _max_or_none(_per_rank(replies, "planted_slowdown")),
    }


def build_record(case: Case, outcome: CaseOutcome, settings: RoundSettings, *, device: str, backend: str,
                 dtype: str, threads_per_rank: int | None = None, params: int | None = None,
                 uneven: bool | None = None) -> dict[str, Any]:
    """`params` and `uneven`: the model's (models.init.model_facts, which needs torch; the caller has it)."""
    replies = outcome.replies or [None] * case.process_count
    record = _fields_of_every_record(case, outcome, settings, replies, device=device, backend=backend, dtype=dtype,
                                     threads_per_rank=threads_per_rank, params=params, uneven=uneven)
    if outcome.status != "ok":
        return record
    if len({len(reply["times_s"]) for reply in replies}) != 1:  # the ranks decide together; never expected
        record["status"] = "error"
        record["message"] = f"ranks measured different round counts: {[len(r['times_s']) for r in replies]}"
        return record
    rank_times = _rounds_by_rank(replies, "times_s")
    record["rank_times_s"] = rank_times
    record["round_times_s"] = round_times(rank_times)
    record.update(phase_fields(case.op, replies, rank_times))
    summary = summarize(record["round_times_s"])
    record["stats"] = summary.as_dict()
    record.update(_metric_fields(replies, len(rank_times)))
    if record["bytes_global"] and summary.median_s > 0:
        record["throughput_gbps"] = record["bytes_global"] / summary.median_s / 1e9
    if any(reply.get("peak_cuda_allocated_bytes") is not None for reply in replies):
        record["peak_cuda_bytes"] = _per_rank(replies, "peak_cuda_allocated_bytes")
        record["peak_cuda_reserved_bytes"] = _per_rank(replies, "peak_cuda_reserved_bytes")
    verdicts = [reply.get("correct") for reply in replies]
    notes = [note for reply in replies for note in reply.get("notes") or []]
    if any(v is False for v in verdicts):
        record["correct"] = False
        record["status"] = "error"  # a wrong load is a failure, however fast it was
        record["message"] = "loaded state differs from what was saved: " + "; ".join(notes[:4])
    else:
        record["correct"] = True if all(v is True for v in verdicts) else None
        record["message"] = "; ".join(sorted(set(notes)))[:1000]
    return record
