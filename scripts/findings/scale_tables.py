"""The scale profile's figures as markdown tables, from a result file (docs/findings/2026-12-07-scale.md):

    python3 scripts/findings/scale_tables.py RESULT.json

One table of median time per simulated (api, op, options, model) against world size with the growth exponent
(analysis.growth), one of the op's counted figures at each size, and the 405B planning read off its first blocks
(analysis.depth_extrapolation). Torch-free."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from analysis.depth_extrapolation import extra_figure, extrapolate_to_full_depth  # noqa: E402
from analysis.growth import growth_fit  # noqa: E402
from analysis.load import load_frame  # noqa: E402

FIGURES = ("rss_after_setup_bytes", "metadata_chunks", "metadata_bytes", "gather_bytes", "scatter_bytes",
           "read_amplification")


def _series(frame: pd.DataFrame) -> pd.DataFrame:
    sim = frame[frame["simulated"] & (frame["status"] == "ok")].copy()
    sim["layout"] = sim.apply(lambda r: "tp" if (r["options"] or {}).get("parallel") == "tp"
                              else ("hsdp" if len(r["mesh_shape"]) == 2 else "fsdp"), axis=1)
    sim["saved"] = sim["options"].map(lambda o: (o or {}).get("saved_ranks"))
    return sim


def time_table(sim: pd.DataFrame) -> str:
    sizes = sorted(sim["world_size"].unique())
    lines = ["| api · op | layout | model | saved | " + " | ".join(f"{n:,}" for n in sizes) + " | exponent [95%] |",
             "|---" * (len(sizes) + 5) + "|"]
    keys = ["api", "op", "layout", "model"]
    for key, group in sim.groupby(keys, sort=False):
        group = group.assign(saved_kind=[("-" if s is None or pd.isna(s) else ("N" if s == w else "N/2"))
                                         for s, w in zip(group["saved"], group["world_size"])])
        for saved, rows in group.groupby("saved_kind", sort=False):
            by_size = dict(zip(rows["world_size"], rows["median_s"]))
            cells = [f"{by_size[n] * 1e3:.1f}" if n in by_size else "" for n in sizes]
            fit = growth_fit(list(by_size), list(by_size.values()))
            lines.append(f"| {key[0]} · {key[1]} | {key[2]} | {key[3]} | {saved} | " + " | ".join(cells)
                         + f" | {fit.label() if fit else '-'} |")
    return "\n".join(lines)


def figures_table(sim: pd.DataFrame) -> str:
    lines = ["| case | ranks | " + " | ".join(FIGURES) + " |", "|---" * (len(FIGURES) + 2) + "|"]
    figures = pd.DataFrame({name: extra_figure(sim, name) for name in FIGURES})
    for index, row in sim.sort_values(["op", "model", "world_size"]).iterrows():
        values = figures.loc[index].tolist()
        if all(pd.isna(v) for v in values[1:]):
            continue
        cells = ["" if pd.isna(v) else (f"{v:.3g}" if name == "read_amplification" else f"{v:,.0f}")
                 for name, v in zip(FIGURES, values)]
        lines.append(f"| {row['case']} | {row['world_size']:,} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def extrapolated_table(frame: pd.DataFrame) -> str:
    lines = ["| op | options | ranks | figure | at 126 blocks | 95% interval | blocks measured |",
             "|---|---|---|---|---|---|---|"]
    for column in ("median_s", "metadata_chunks", "metadata_bytes", "rss_after_setup_bytes"):
        for _, r in extrapolate_to_full_depth(frame, column).iterrows():
            lines.append(f"| {r['op']} | {r['options_label'] or '-'} | {r['world_size']:,} | {column} | "
                         f"{r['estimate']:,.4g} | [{r['low']:,.4g}, {r['high']:,.4g}] | {r['layers']} |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: scale_tables.py RESULT.json", file=sys.stderr)
        return 2
    frame = load_frame(argv[0])
    sim = _series(frame)
    print("## Median time (ms) against ranks\n\n" + time_table(sim) + "\n")
    print("## Counted figures (rank 0)\n\n" + figures_table(sim) + "\n")
    print("## 405B planning at full depth (extrapolated)\n\n" + extrapolated_table(frame))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
