"""The figures of docs/findings/2026-12-07-*.md (issue 16, known behaviours reproduced) from result files: one
markdown table per behaviour, every cell read from the records (medians over rounds, IQR, rounds, per-rank memory).

    python3 scripts/findings/known_behaviours.py RESULT.json [RESULT.json ...] [--section NAME ...]

Sections: full-vs-sharded, save-full-vs-sharded, rank0-only, optim-tensors, save-growth, writer-options,
async-blocking, uneven, hsdp. optim-tensors compares --few and --many (two models of about the same parameter count).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the suite's packages, run from anywhere

from analysis.load import ResultFileError, load_frame  # noqa: E402
from analysis.render import table  # noqa: E402

MESHES = ("1", "2", "4", "2x2")
MIB = 2**20
SYNC_SAVE = "fsync=1,single_file_per_rank=1,source=fsdp2,thread_count=1"
"""The synchronous DCP save that async saves and full saves are compared with."""


def ms(seconds: float) -> str:
    return "-" if seconds is None or seconds != seconds else f"{seconds * 1e3:.3g}"


def timing(row: pd.Series) -> str:
    """`median ms (IQR ms, rounds)`, or the status of a case with no rounds (with its known torch bug)."""
    if row.status != "ok":
        bug = row.get("known_bug")
        return f"{row.status}" + (f" ({bug['issue'].rsplit('/', 1)[-1]})" if isinstance(bug, dict) else "")
    return f"{ms(row.median_s)} ({ms(row.stats['iqr_s'])}, {row.rounds})"


def per_rank_mib(values: object, digits: int = 1) -> str:
    """A per-rank list of bytes as `a / b / c` MiB ('-' for a rank with no figure)."""
    if not isinstance(values, list):
        return "-"
    return " / ".join("-" if v is None else f"{v / MIB:.{digits}f}" for v in values)


def io_median(row: pd.Series, key: str) -> list[float] | None:
    """Each rank's median over rounds of one /proc/self/io counter (rchar, wchar, ...)."""
    rounds = row.io_bytes.get(key) if isinstance(row.io_bytes, dict) else None
    return np.median(np.array(rounds, dtype=float), axis=0).tolist() if rounds else None


def by_mesh(cases: pd.DataFrame, keys: list[str], cell: Callable[[pd.Series], str],
            meshes: tuple[str, ...] = MESHES) -> str:
    """One row per distinct `keys`, one column per mesh that has a case, `cell` of that case in it."""
    meshes = tuple(m for m in meshes if (cases.mesh == m).any())
    rows = []
    for key, group in cases.groupby(keys, sort=True, dropna=False):
        at = {row.mesh: row for _, row in group.iterrows()}
        rows.append([*(key if isinstance(key, tuple) else (key,)), *(cell(at[m]) if m in at else "" for m in meshes)])
    return table([*keys, *(f"mesh {m}" for m in meshes)], rows, fmt="markdown")


def rows_table(cases: pd.DataFrame, sort_by: list[str], header: list[str],
               row_of: Callable[[pd.Series], list]) -> str:
    """One row per case, in the order of `sort_by`."""
    return table(header, [row_of(row) for _, row in cases.sort_values(sort_by).iterrows()], fmt="markdown")


def real(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[~frame.simulated]


def full_vs_sharded(frame: pd.DataFrame) -> str:
    """FSDP1 and FSDP2 get_model / get_optim, full against sharded, by world size."""
    cases = real(frame)
    cases = cases[cases.api.isin(["fsdp1", "fsdp2"]) & cases.op.isin(["get_model", "get_optim"])
                  & cases.state_dict_type.isin(["full", "sharded"])
                  & ~cases.options_label.str.contains("use_mesh=0|module_state_dict|offload_to_cpu=1")]
    return by_mesh(cases, ["model", "api", "op", "state_dict_type", "options_label"], timing, ("1", "2", "4"))


def save_full_vs_sharded(frame: pd.DataFrame) -> str:
    """A sharded DCP save against torch.save of a full state dict on rank 0, with the state-dict phase apart."""
    cases = real(frame)
    dcp = (cases.api == "dcp") & (cases.op == "save") & (cases.options_label == SYNC_SAVE)
    full = (cases.api == "torch_save") & (cases.op == "save")
    cases = cases[dcp | full]

    def cell(row: pd.Series) -> str:
        phases = row.phase_medians_s if isinstance(row.phase_medians_s, dict) else {}
        return f"{timing(row)}; state_dict {ms(phases.get('state_dict'))}"
    return by_mesh(cases, ["model", "api", "options_label"], cell, ("1", "2", "4"))


def rank0_only(frame: pd.DataFrame) -> str:
    """FSDP1 FULL_STATE_DICT, every rank0_only x offload_to_cpu: each rank's peak RSS over its RSS before the op."""
    cases = real(frame)
    cases = cases[(cases.api == "fsdp1") & (cases.state_dict_type == "full") & ~cases.options_label.str.contains(
        "use_mesh=0")]

    def cell(row: pd.Series) -> str:
        return per_rank_mib(row.peak_rss_bytes) if row.status == "ok" else timing(row)
    return by_mesh(cases, ["model", "op", "options_label"], cell, ("1", "2", "4"))


def optim_tensors(frame: pd.DataFrame, few: str, many: str) -> str:
    """get_optim of two models of about the same size and different tensor counts: the extra time per tensor."""
    cases = real(frame)
    cases = cases[(cases.op == "get_optim") & cases.model.isin([few, many]) & (cases.status == "ok")
                  & ~cases.options_label.str.contains("use_mesh=0|offload_to_cpu=1")]
    rows = []
    for (api, kind, options, mesh), group in cases.groupby(["api", "state_dict_type", "options_label", "mesh"]):
        at = {row.model: row for _, row in group.iterrows()}
        if few not in at or many not in at:
            continue
        a, b = at[few], at[many]
        extra = (b.median_s - a.median_s) / (b.tensors - a.tensors)
        rows.append([api, kind, options, mesh, f"{int(a.tensors)}: {timing(a)}", f"{int(b.tensors)}: {timing(b)}",
                     f"{extra * 1e6:.0f}", f"{b.median_s / b.tensors * 1e6:.0f}"])
    rows.sort(key=lambda r: (r[0], r[1], r[2], MESHES.index(r[3])))
    header = ["api", "type", "options", "mesh", f"{few}: tensors: ms (IQR, n)", f"{many}: tensors: ms (IQR, n)",
              "extra us per extra tensor", f"{many}: us per tensor"]
    return table(header, rows, fmt="markdown")


def dcp_saves(frame: pd.DataFrame) -> pd.DataFrame:
    cases = real(frame)
    return cases[(cases.api == "dcp") & cases.op.isin(["save", "async_save"]) & (cases.status == "ok")]


def save_growth(frame: pd.DataFrame) -> str:
    """Host-memory growth per save (the least-squares slope of RSS after each round) against the bytes saved."""
    def row_of(row: pd.Series) -> list:
        growth = [g for g in row.rss_growth_per_save_bytes or [] if g is not None]
        share = max(growth) / (row.bytes_written / row.world_size) if growth else math.nan
        return [row.model, row.mesh, row.op, row.options_label, row.rounds, ms(row.median_s),
                per_rank_mib(row.rss_growth_per_save_bytes, 2), f"{row.bytes_written / MIB:.1f}", f"{share:.1%}",
                per_rank_mib(row.peak_rss_bytes)]
    header = ["model", "mesh", "op", "options", "rounds", "median ms", "RSS growth per save, MiB per rank",
              "MiB written (all ranks)", "largest growth / bytes per rank", "peak RSS MiB per rank"]
    return rows_table(dcp_saves(frame), ["model", "mesh", "op", "options_label"], header, row_of)


def writer_options(frame: pd.DataFrame) -> str:
    """DCP save of FSDP2 state with thread_count 1 or 4 and one file per rank or one per item."""
    cases = dcp_saves(frame)
    cases = cases[(cases.op == "save") & cases.options_label.str.contains("source=fsdp2")]
    cases = cases.assign(writer=cases.options_label.str.replace("fsync=1,", "").str.replace(",source=fsdp2", ""))

    def cell(row: pd.Series) -> str:
        return f"{timing(row)}; {int(row.files_written)} files"
    return by_mesh(cases, ["model", "writer"], cell)


def async_blocking(frame: pd.DataFrame) -> str:
    """async_save: how long the call blocks and the whole save takes, against the synchronous save."""
    cases = dcp_saves(frame)
    sync_s = {(r.model, r.mesh): r.median_s for _, r in cases[cases.options_label == SYNC_SAVE].iterrows()}

    def row_of(row: pd.Series) -> list:
        reference = sync_s.get((row.model, row.mesh), math.nan)
        return [row.model, row.mesh, row.options["mode"], row.rounds, ms(row.blocking_median_s), timing(row),
                f"{row.blocking_median_s / row.median_s:.0%}", ms(reference),
                f"{row.blocking_median_s / reference:.0%}", per_rank_mib(row.peak_rss_bytes)]
    header = ["model", "mesh", "mode", "rounds", "blocking ms (median)", "total ms (IQR, n)", "blocking / total",
              "sync save ms", "blocking / sync save", "peak RSS MiB per rank"]
    return rows_table(cases[cases.op == "async_save"], ["model", "mesh", "options_label"], header, row_of)


def uneven(frame: pd.DataFrame) -> str:
    """FSDP2 full-state-dict loads with broadcast_from_rank0 on the uneven models: outcome, check, time."""
    cases = real(frame)
    cases = cases[(cases.api == "fsdp2") & cases.op.isin(["set_model", "set_optim"])
                  & cases.uneven.fillna(False).astype(bool) & (cases.state_dict_type == "full")]

    def cell(row: pd.Series) -> str:
        return f"{row.status}, correct={row.correct}; {timing(row)}"
    return by_mesh(cases, ["model", "op", "options_label"], cell)


def hsdp(frame: pd.DataFrame) -> str:
    """DCP save and load of FSDP2 state on 2, 4 and 2x2 (HSDP) ranks: the bytes each rank writes or reads."""
    cases = real(frame)
    cases = cases[(cases.api == "dcp") & cases.op.isin(["save", "load"]) & cases.mesh.isin(["2", "4", "2x2"])
                  & cases.options_label.isin([SYNC_SAVE, "fsync=1,page_cache=cold,source=fsdp2",
                                              "fsync=1,page_cache=cold,saved_on=2x2,source=fsdp2"])]

    def row_of(row: pd.Series) -> list:
        counter = "wchar" if row.op == "save" else "rchar"
        moved = io_median(row, counter)
        return [row.model, row.op, row.options_label, row.mesh, timing(row), row.correct,
                f"{row.bytes_written / MIB:.2f}", f"{counter}: {per_rank_mib(moved, 2)}",
                f"{sum(moved) / MIB:.1f}" if moved else "-"]
    header = ["model", "op", "options", "mesh", "ms (IQR, n)", "correct", "checkpoint MiB", "MiB per rank (median)",
              "MiB all ranks"]
    return rows_table(cases, ["model", "op", "options_label", "mesh"], header, row_of)


SECTIONS = {"full-vs-sharded": full_vs_sharded, "save-full-vs-sharded": save_full_vs_sharded,
            "rank0-only": rank0_only, "save-growth": save_growth, "writer-options": writer_options,
            "async-blocking": async_blocking, "uneven": uneven, "hsdp": hsdp}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", nargs="+", help="result files (or folders, globs)")
    parser.add_argument("--section", action="append", choices=[*SECTIONS, "optim-tensors"],
                        help="print only these sections (repeat); default: all")
    parser.add_argument("--few", default="mlp_1m_uneven", help="optim-tensors: the model with few tensors")
    parser.add_argument("--many", default="transformer_1m", help="optim-tensors: the model with many tensors")
    args = parser.parse_args()
    try:
        frame = load_frame(args.results)
    except ResultFileError as exc:
        print(f"known_behaviours: error: {exc}", file=sys.stderr)
        return 2
    for name in args.section or [*SECTIONS, "optim-tensors"]:
        text = (optim_tensors(frame, args.few, args.many) if name == "optim-tensors" else SECTIONS[name](frame))
        print(f"### {name}\n\n{text}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
