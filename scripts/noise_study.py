"""Where does the noise come from? Fresh runs of one selection under several settings, interleaved, then per case the
spread between runs (the unit a comparison tests) against the spread between rounds of one run.

    python scripts/noise_study.py --runs 4 --out DIR [--settings default,pinned,...] [--world-size N] [--table-only]
        [--skip-first K] -- PYTEST_ARGS...

Each setting is a set of extra pytest options (SETTINGS). Runs go in rounds over the settings (default, pinned, ...,
default, pinned, ...) so that a drift of the machine falls on all of them alike. Printed, per setting and metric
(wall, cpu): over the timed cases, the median and 90th percentile of the between-run standard deviation of the log
of a run's median (about the relative spread of run medians) and of the within-run robust CV of the rounds; and the
machine's steal and other load during the runs (/proc/stat, /proc/loadavg). Beside them, each run's factor (the
geometric mean over the cases of its median against the first run's: a run that is slow as a whole) and the
between-run spread left after dividing each run by its factor. The table goes to DIR/noise.md too.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import benchmark_command  # noqa: E402
from bench.machine.state import cpu_ticks  # noqa: E402
from bench.metrics import JUDGED  # noqa: E402
from bench.results.dispersion import robust_cv  # noqa: E402

SETTINGS = {
    "default": [],
    "pinned": ["--pin-ranks"],
    "pin1": ["--pin-ranks", "--threads-per-rank", "1"],
    "threads1": ["--threads-per-rank", "1"],
    "warmup3": ["--warmup-rounds", "3"],
    "rounds40": ["--min-rounds", "40", "--max-rounds", "40", "--budget-s", "0"],
    "instructions": ["--metric", "instructions"],
    # For a selection given without --mesh: the same one-rank cases alone and beside a 2-rank world.
    "mesh1": ["--mesh", "1"],
    "mesh12": ["--mesh", "1,2"],
}
METRIC_FIELDS = {name: metric.round_field for name, metric in JUDGED.items()}
REPEATABLE = 0.01
"""A case repeats when its run medians span at most 1% (max / min - 1), issue 13's test of determinism."""


def run_once(out: Path, setting: str, number: int, extra: list[str]) -> dict:
    path = out / f"{setting}-{number:02d}.json"
    before, began = cpu_ticks(), time.monotonic()
    done = subprocess.run(benchmark_command([*SETTINGS[setting], *extra], json_path=path), cwd=ROOT,
                          capture_output=True, text=True, check=False)
    after = cpu_ticks()
    total = sum(after.values()) - sum(before.values())
    with open("/proc/loadavg") as loadavg:
        load = float(loadavg.read().split()[0])
    return {"setting": setting, "file": str(path), "exit": done.returncode, "wall_s": time.monotonic() - began,
            "steal_fraction": (after["steal"] - before["steal"]) / total if total else None, "load1": load}


def case_medians(files: list[str], field: str, keep=lambda record: True,
                 ) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """case -> per-run log median, and case -> per-run robust CV of the rounds, for the records `keep` accepts."""
    logs: dict[str, list[float]] = {}
    rcvs: dict[str, list[float]] = {}
    for file in files:
        for bench in json.loads(Path(file).read_text())["benchmarks"]:
            record = bench["extra_info"]
            rounds = record.get(field) or []
            if record["status"] != "ok" or not rounds or statistics.median(rounds) <= 0 or not keep(record):
                continue
            logs.setdefault(record["case_id"], []).append(math.log(statistics.median(rounds)))
            rcvs.setdefault(record["case_id"], []).append(robust_cv(rounds))
    return logs, rcvs


def quantiles(values: list[float]) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    return f"{statistics.median(ordered):.1%} / {ordered[int(0.9 * (len(ordered) - 1))]:.1%}"


def run_factors(complete: list[list[float]]) -> tuple[list[float], list[float]]:
    """Each run's factor against the first run (exp of the mean log ratio over the cases), and each case's
    between-run sd of log medians once every run is divided by its factor."""
    shifts = [statistics.mean(case[i] - case[0] for case in complete) for i in range(len(complete[0]))]
    left = [statistics.stdev([value - shift for value, shift in zip(case, shifts)]) for case in complete]
    return [math.exp(shift) for shift in shifts], left


def table(runs: list[dict], settings: list[str], keep=lambda record: True) -> list[str]:
    lines = ["| setting | metric | cases | between runs: sd of log median, median / p90 | within a run: rcv of rounds, "
             f"median / p90 | run medians within {REPEATABLE:.0%} | run factors | between runs after them | "
             "wall s per run | steal | load1 |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for setting in settings:
        mine = [run for run in runs if run["setting"] == setting and run["exit"] in (0, 1)]
        files = [run["file"] for run in mine]
        for metric, field in METRIC_FIELDS.items():
            logs, rcvs = case_medians(files, field, keep)
            complete = [v for v in logs.values() if len(v) == len(files) and len(v) > 1]
            if not complete:
                continue  # this metric was not recorded in these runs (instructions outside that mode)
            between = [statistics.stdev(v) for v in complete]
            repeat = sum(math.exp(max(v) - min(v)) - 1 <= REPEATABLE for v in complete)
            within = [statistics.median(v) for v in rcvs.values() if len(v) == len(files)]
            steal = [r["steal_fraction"] for r in mine if r["steal_fraction"] is not None]
            factors, left = run_factors(complete)
            lines.append(f"| {setting} | {metric} | {len(between)} | {quantiles(between)} | {quantiles(within)} | "
                         f"{repeat} of {len(complete)} | {' '.join(f'{f:.2f}' for f in factors)} | "
                         f"{quantiles(left)} | "
                         f"{statistics.mean(r['wall_s'] for r in mine):.0f} | "
                         f"{statistics.mean(steal) if steal else 0:.1%} | "
                         f"{statistics.mean(r['load1'] for r in mine):.2f} |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--out", required=True)
    parser.add_argument("--settings", default=",".join(SETTINGS))
    parser.add_argument("--world-size", type=int, help="tabulate only the cases of worlds of this many ranks")
    parser.add_argument("--table-only", action="store_true", help="tabulate the runs already in --out/runs.json")
    parser.add_argument("--skip-first", type=int, default=0, metavar="K",
                        help="tabulate without each setting's first K runs (e.g. the first on a fresh machine)")
    parser.add_argument("pytest_args", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    settings = args.settings.split(",")
    unknown = [s for s in settings if s not in SETTINGS]
    if unknown or args.runs < 2 or args.skip_first < 0:
        print(f"noise_study: error: unknown settings {unknown}, --runs < 2 or --skip-first < 0", file=sys.stderr)
        return 2
    extra = args.pytest_args[1:] if args.pytest_args[:1] == ["--"] else args.pytest_args
    out = Path(args.out)
    if args.table_only and not (out / "runs.json").is_file():
        print(f"noise_study: error: {out / 'runs.json'} not found: no study ran into {out}", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    if args.table_only:
        runs = json.loads((out / "runs.json").read_text())
    else:
        runs = []
        for number in range(1, args.runs + 1):
            for setting in settings:
                runs.append(run_once(out, setting, number, extra))
                print(json.dumps(runs[-1]), flush=True)
        (out / "runs.json").write_text(json.dumps(runs, indent=1))
    size = args.world_size
    runs = [run for setting in settings for run in [r for r in runs if r["setting"] == setting][args.skip_first:]]
    lines = table(runs, settings, keep=lambda record: size is None or record["world_size"] == size)
    (out / "noise.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
