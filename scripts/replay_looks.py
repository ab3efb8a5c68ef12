"""Replay a compare folder's looks under today's stopping rules (bench/compare/settle.py): after each pass from the
second, which cases the rules would decide (flag and stop), and the final comparison with the folder's settled cases
kept as they were and the decided ones cut after their look. For a calibrate folder it also judges the final
comparison against the planted truth (calibrate.json), as calibrate does.

    python scripts/replay_looks.py COMPARE_FOLDER [--metric wall|cpu]

A replay, not a run: the passes are the folder's, so a decided case's later passes, which a real run would not have
measured, are left out, and the time they would have freed is not spent on other cases.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the suite's packages, run from anywhere

from analysis.compare import CompareSettings, compare_frames  # noqa: E402
from analysis.load import frame_of_runs, load_runs  # noqa: E402
from analysis.settled import read_settled  # noqa: E402
from bench.compare.calibrate import judge  # noqa: E402
from bench.compare.args import PASS_GLOB  # noqa: E402
from bench.compare.settle import EARLY_ALPHA, decision_level, newly_decided  # noqa: E402


def _passes_of(folder: Path, metric: str):
    """Side -> the frame of its passes, with each row's pass number."""
    frames = {}
    for side in ("a", "b"):
        frame = frame_of_runs(load_runs([str(folder / PASS_GLOB / f"{side}.json")], metric))
        frame["pass"] = frame["run_file"].str.extract(r"pass(\d\d)")[0].astype(int)
        frames[side] = frame
    return frames


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--metric", default="wall", choices=("wall", "cpu"))
    parser.add_argument("--threshold", type=float, default=0.05)
    args = parser.parse_args()
    if not list(args.folder.glob(f"{PASS_GLOB}/a.json")):
        print(f"replay_looks: error: {args.folder} holds no passNN/a.json", file=sys.stderr)
        return 2
    frames = _passes_of(args.folder, args.metric)
    last = int(frames["a"]["pass"].max())
    settled, decided = read_settled(args.folder).settled, {}
    for done in range(2, last + 1):
        stop = {**settled, **decided}
        cut = {side: f[f["pass"] <= f["case"].map(stop).fillna(done).clip(upper=done)] for side, f in frames.items()}
        looked = {c: k for c, k in settled.items() if k <= done}
        settings = CompareSettings(threshold=args.threshold, settled=looked, decided=dict(decided),
                                   early_alpha=EARLY_ALPHA)
        comparison = compare_frames(cut["a"], cut["b"], settings)
        if done < last:
            level = decision_level(done, comparison.summary["family_size"])
            new = newly_decided(comparison.cases, set(settled) | set(decided), level, args.threshold)
            decided |= {case: done for case in new}
            print(f"after pass {done}: decide at p < {level:.1e}: {', '.join(new) or 'none'}")
    cases = comparison.cases
    flagged = cases["time_verdict"].isin(["regression", "improvement"]).sum()
    print(f"final ({last} passes, {args.metric}, Holm at {settings.final_alpha:g}): {flagged} flagged, "
          f"{len(decided)} decided early, {len(settled)} settled; case-passes not needed after a decision: "
          f"{sum(last - k for k in decided.values())}")
    plan_file = args.folder / "calibrate.json"
    if plan_file.exists():
        judged = judge(cases, json.loads(plan_file.read_text())["plan"])
        print(f"planted: {judged['detected']} of {judged['planted_cases']} detected, "
              f"{judged['false_time_flags']} false time flags of {judged['other_timed_cases']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
