"""Print the summary table of a result file: one row per case, then the counts by status and the file's path.

`python -m bench.results.summary results/FILE.json`
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from bench.results.reader import ResultFileError, options_label, read_result_file, records_of
from bench.results.schema import SIMULATED_LABEL, SIMULATED_MEANING, XFAIL, counted_status
from bench.ops.matrix import mesh_label
from bench.metrics import JUDGED, Metric, wall
from bench.results.dispersion import UNSTABLE_RCV
from bench.results.wall_accounting import format_table as format_wall_table


def records(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Every case of the file, timed or not, in the order they ran."""
    return sorted(records_of(data), key=lambda record: record.get("sequence", 0))


def _fmt(value: float | None, scale: float = 1.0, digits: int = 2) -> str:
    return "-" if value is None else f"{value * scale:.{digits}f}"


def metric_columns(cases: list[dict[str, Any]] = ()) -> list[Metric]:
    """The judged metrics beside wall time that get a column: those every run records, and the others where one of
    `cases` has them (instructions mode)."""
    return [metric for metric in JUDGED.values() if metric is not wall.METRIC
            and (metric.always or any(record.get(metric.stats_field) for record in cases))]


def table_rows(cases: list[dict[str, Any]], device_peaks: bool = False,
               metrics: list[Metric] | None = None) -> list[list[str]]:
    """`device_peaks`: a column of the largest rank's peak device memory (allocated), for runs on GPUs; `metrics`:
    a column of each one's median (default: metric_columns)."""
    metrics = metric_columns(cases) if metrics is None else metrics
    rows = []
    for record in cases:
        stats = record.get("stats") or {}
        peaks = [p for p in record.get("peak_rss_bytes") or [] if p is not None]
        flag = " unstable" if stats.get("unstable") else ""
        rows.append([
            record["api"], record["op"], record["state_dict_type"] or "-", options_label(record["options"]),
            record["model"] or "-", mesh_label(record["mesh_shape"]) + (" sim" if record.get("simulated") else ""),
            _fmt(stats.get("median_s"), 1e3, 3), _fmt(stats.get("iqr_s"), 1e3, 3),
            *(_fmt((record.get(m.stats_field) or {}).get("median_s"), m.display[1], 3) for m in metrics),
            _fmt(record.get("throughput_gbps"), 1, 3), _fmt(record.get("fraction_of_ceiling"), 100, 1),
            _fmt(max(peaks) if peaks else None, 1 / 2**20, 2),
            {True: "yes", False: "NO", None: "-"}[record.get("correct")],
            counted_status(record) + flag,
        ])
        if device_peaks:
            known = [p for p in record.get("peak_cuda_bytes") or [] if p is not None]
            rows[-1].insert(-2, _fmt(max(known) if known else None, 1 / 2**20, 1))
    return rows


def header(device_peaks: bool = False, metrics: list[Metric] | None = None) -> list[str]:
    """The columns of table_rows(cases, device_peaks, metrics); default metrics: those every run records."""
    metrics = metric_columns() if metrics is None else metrics
    return ["api", "op", "type", "options", "model", "mesh", "median ms", "IQR ms",
            *(metric.column for metric in metrics), "GB/s", "% ceiling", "peak MiB",
            *(["GPU MiB"] if device_peaks else []), "correct", "status"]


HEADER = header()


def format_table(rows: list[list[str]], header: list[str] = HEADER) -> str:
    widths = [max(len(str(row[i])) for row in [header] + rows) for i in range(len(header))]
    lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip()
             for row in [header] + rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def failures(cases: list[dict[str, Any]]) -> list[str]:
    """A line per failed case; a case whose known torch bug reproduced is not a failure (known_bug_lines)."""
    return [f"{r['case_id']}: {r['status']}: {r['message'].splitlines()[0] if r['message'] else ''}"
            + (f" ({r['known_bug']['note']})" if (r.get("known_bug") or {}).get("note") else "")
            for r in cases if counted_status(r) in ("error", "timeout")]


def known_bug_lines(cases: list[dict[str, Any]]) -> list[str]:
    """A line per known torch bug that reproduced (with its case count), and one per case where it did not."""
    reproduced: dict[str, list[dict[str, Any]]] = {}
    for record in cases:
        if counted_status(record) == XFAIL:
            reproduced.setdefault(record["known_bug"]["issue"], []).append(record)
    lines = [f"{XFAIL}: {len(hit)} case(s): {hit[0]['known_bug'].get('note') or hit[0]['known_bug']['issue']}; "
             f"e.g. {hit[0]['case_id']}: {(hit[0]['message'] or '').splitlines()[0] if hit[0]['message'] else ''}"
             for hit in reproduced.values()]
    return lines + [f"XPASS: {r['case_id']}: {r['known_bug']['note']}" for r in cases
                    if (r.get("known_bug") or {}).get("reproduced") is False and r["status"] == "ok"]


def summarize_file(path: str | Path) -> str:
    data = read_result_file(path)
    run = data["run"]
    cases = records(data)
    counts = ", ".join(f"{n} {status}" for status, n in sorted(run.get("status_counts", {}).items()))
    on_gpus = any(r.get("peak_cuda_bytes") for r in cases)
    metrics = metric_columns(cases)
    lines = [format_table(table_rows(cases, on_gpus, metrics), header(on_gpus, metrics)), ""]
    lines += [f"failed: {line}" for line in failures(cases)]
    lines += known_bug_lines(cases)
    lines += [f"skipped: {r['case_id']}: {r['message']}" for r in cases if r["status"] == "skipped"]
    if run.get("complete") is False:
        lines.append(f"incomplete: the run was interrupted; `--resume {path}` runs the cases it lacks")
    lines += [f"warning: {w}" for w in (run.get("machine_state") or {}).get("warnings", [])]
    timed = [r for r in cases if r.get("stats")]
    unstable = sum(1 for r in timed if r["stats"]["unstable"])
    if unstable:
        lines.append(f"warning: {unstable} of {len(timed)} timed cases are unstable "
                     f"(robust CV, 1.4826 x MAD / median of the round times, >= {UNSTABLE_RCV:.0%}): "
                     "compare their medians with care")
    lines.append(f"profile {run['profile']}, torch {run['torch']['version']}, {run['machine']['cores']} cores: "
                 f"{len(cases)} cases ({counts}) in {run.get('duration_s', 0):.0f} s, "
                 f"{run.get('world_start_s', 0):.0f} s of it starting {run.get('world_starts', 0)} worlds")
    if any(r.get("simulated") for r in cases):
        lines.append(f"mesh N sim: {SIMULATED_LABEL}: {SIMULATED_MEANING}")
    lines += [metric.column_note for metric in reversed(metrics)]
    lines.append("peak MiB: the largest rank's peak RSS during the op over its RSS before it (an untimed round); "
                 "GB/s: global logical bytes / median; % ceiling: GB/s over the machine's matching ceiling")
    if on_gpus:
        lines.append("GPU MiB: the largest rank's peak allocated device memory in that round "
                     "(peak_cuda_reserved_bytes in the file: reserved)")
    ceilings = run.get("ceilings") or {}
    measured = [f"{name.removesuffix('_gbps')} {value:.2f}" for name, value in ceilings.items()
                if name.endswith("_gbps")]
    if measured:
        lines.append(f"ceilings (GB/s, {ceilings.get('folder')}): " + ", ".join(measured))
    noise = run.get("noise_during") or {}
    if "steal_fraction" in noise:
        lines.append(f"during the run: {noise['steal_fraction']:.1%} of CPU time stolen by the hypervisor, "
                     f"{noise['iowait_fraction']:.1%} waiting on I/O, {noise['idle_fraction']:.1%} idle; load average "
                     f"{noise['load_average_end'][0]:.2f} at the end")
    lines += format_wall_table(run.get("wall_time") or {})
    lines.append(f"results: {path}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m bench.results.summary RESULT_FILE.json", file=sys.stderr)
        return 2
    try:
        print(summarize_file(argv[0]))
    except ResultFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
