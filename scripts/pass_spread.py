"""Per case of a compare folder: how much a pass's log ratio B/A spreads over the passes, against what the rounds of
one pass predict (the standard error of a pass's log ratio of medians: both sides' analysis.case_samples
within_variance, the statistics' own prediction). Where the two agree, the case's noise is round to round and more rounds help; where the passes spread
more, it is between processes and only more passes do (docs/measuring.md, "The mesh-2 `full` cases").

    python scripts/pass_spread.py COMPARE_FOLDER [--from-pass K] [-k SUBSTRING] [--field round_cpu_s]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the suite's packages, run from anywhere

from analysis.case_samples import within_variance  # noqa: E402


def rounds_by_case(folder: Path, from_pass: int, field: str) -> dict[str, list[tuple[list, list]]]:
    """case id -> [(side A's rounds, side B's rounds) of each pass from `from_pass` that timed it on both sides]."""
    cases: dict[str, list[tuple[list, list]]] = {}
    for pass_dir in sorted(folder.glob("pass[0-9][0-9]")):
        if int(pass_dir.name[4:]) < from_pass:
            continue
        sides = []
        for side in ("a", "b"):
            records = json.loads((pass_dir / f"{side}.json").read_text())["benchmarks"]
            sides.append({r["extra_info"]["case_id"]: r["extra_info"].get(field) for r in records})
        for case in sides[0].keys() & sides[1].keys():
            if sides[0][case] and sides[1][case]:
                cases.setdefault(case, []).append((sides[0][case], sides[1][case]))
    return cases


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--from-pass", type=int, default=1)
    parser.add_argument("-k", default="", help="only the cases whose id contains this")
    parser.add_argument("--field", default="round_times_s", help="the rounds to use (default round_times_s)")
    args = parser.parse_args()
    if not list(args.folder.glob("pass[0-9][0-9]/a.json")):
        print(f"pass_spread: error: {args.folder} holds no passNN/a.json", file=sys.stderr)
        return 2
    print(f"{'case':90s} passes rounds pass-sd round-SE  mean log B/A")
    for case, passes in sorted(rounds_by_case(args.folder, args.from_pass, args.field).items()):
        if args.k not in case or len(passes) < 2:
            continue
        ratios = [np.median(np.log(b)) - np.median(np.log(a)) for a, b in passes]
        predicted = [within_variance(a) + within_variance(b) for a, b in passes]
        rounds = int(np.median([len(a) for a, _ in passes]))
        print(f"{case[:90]:90s} {len(passes):6d} {rounds:6d} {np.std(ratios, ddof=1):7.3f} "
              f"{math.sqrt(np.nanmean(predicted)):8.3f}  {np.mean(ratios):+.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
