"""`run_bench.sh calibrate`: what can this machine see, with this selection and this budget?

    python -m bench.compare.calibrate [--profile P] [--python PY] [--ops OP[=P%],...] [--slowdown P%] [--passes N]
                              [--budget-min N] [--rounds N] [--block-rounds N] [--results-dir DIR] [-- PYTEST_ARGS]

A compare (bench/compare/run.py) of the installed torch against itself, in which side B alone carries a known
slowdown in the chosen ops (bench/rank/planted.py: inside the timed region, proportional to the op's own time). Then,
for each metric (analysis/metrics.py), the comparison is judged against that known truth: the share of the planted
cases flagged as regressions (detection), the flags among the other cases (false flags: nothing changed there), and
the minimum detectable effect per case. An op is `OP` (every api's) or `API:OP`, e.g. fsdp2:get_optim=10%.

Exit code 0 when it ran (whatever it found), 2 for bad input or a compare that did not complete.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from bench.compare import args as compare_args

from bench.compare import run as compare_run
from bench.compare.args import BAD_INPUT, BadInput, parse_percent
from bench.compare.plan import compare_passes
from bench.rank.planted import fraction_in

PROG = "statedict-bench calibrate"
DEFAULT_OPS = "fsdp2:get_optim=10%,fsdp2:set_model=20%"
"""Issue 13's target: 10% in FSDP2's get_optimizer_state_dict, 20% in its set_model_state_dict."""
CALIBRATED_METRICS = ("wall", "cpu")


def parse_ops(text: str, slowdown: float) -> dict[str, float]:
    """'fsdp2:get_optim=10%,set_model' -> {'fsdp2:get_optim': 0.1, 'set_model': slowdown}."""
    from bench.ops.matrix import OPS

    plan = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, _, fraction = item.partition("=")
        op = name.split(":")[-1]
        if op not in OPS or name.count(":") > 1:
            raise BadInput(f"--ops: {name!r} is not an op (OP or API:OP; ops: {', '.join(OPS)})")
        plan[name] = parse_percent(fraction, f"--ops {name}") if fraction else slowdown
    if not plan:
        raise BadInput("--ops names no op")
    return plan


def _parser() -> argparse.ArgumentParser:
    parser = compare_args._OneLineParser(prog="python -m bench.compare.calibrate", description=__doc__.split("\n")[0])
    parser.add_argument("--python", default=sys.executable, help="the interpreter whose torch is calibrated")
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--ops", default=DEFAULT_OPS, help=f"ops to slow down on side B (default {DEFAULT_OPS})")
    parser.add_argument("--slowdown", default="10%", help="the slowdown of an op given without one (default 10%%)")
    parser.add_argument("--results-dir", default="results")
    for option in ("--passes", "--rounds", "--block-rounds", "--budget-min", "--target-mde", "--threshold"):
        parser.add_argument(option, help=f"as compare's {option}")
    parser.add_argument("--no-settle", action="store_true", help="as compare's --no-settle")
    parser.add_argument("pytest_args", nargs=argparse.REMAINDER, help="-- then arguments for both sides' pytest")
    return parser


def compare_arguments(args: argparse.Namespace) -> list[str]:
    """compare_run's command line for this calibration: the same interpreter on both sides."""
    argv = ["--a", args.python, "--b", args.python, "--label-a", "installed", "--label-b", "installed+planted",
            "--profile", args.profile, "--results-dir", args.results_dir]
    for option in ("passes", "rounds", "block_rounds", "budget_min", "target_mde", "threshold"):
        value = getattr(args, option)
        if value is not None:
            argv += [f"--{option.replace('_', '-')}", value]
    return argv + (["--no-settle"] if args.no_settle else []) + list(args.pytest_args)


def judge(cases: Any, plan: dict[str, float]) -> dict[str, Any]:
    """One metric's comparison (analysis.compare's case table) against the known truth."""
    planted_fraction = [fraction_in(plan, api, op) for api, op in zip(cases["api"], cases["op"])]
    timed = cases["time_verdict"].notna()
    planted = [f > 0 for f in planted_fraction]
    flags = cases["time_verdict"].isin(["regression", "improvement"])
    memory_flags = sum(cases[f"{m}_verdict"].isin(["regression", "improvement"]) for m in ("peak_rss", "peak_cuda"))
    rows = []
    for i, (case, fraction) in enumerate(zip(cases["case"], planted_fraction)):
        if fraction > 0 and timed.iloc[i]:
            rows.append({"case": case, "planted": fraction, "ratio": float(cases["ratio"].iloc[i]),
                         "mde": float(cases["mde"].iloc[i]), "verdict": cases["time_verdict"].iloc[i]})
    detected = sum(row["verdict"] == "regression" for row in rows)
    others = [i for i in range(len(cases)) if not planted[i]]
    mde = cases["mde"][timed].astype(float)
    finite = mde[mde < float("inf")]
    return {
        "planted_cases": len(rows), "detected": detected,
        "detection_rate": detected / len(rows) if rows else None,
        "visible": sum(row["mde"] <= row["planted"] for row in rows),
        "false_time_flags": int(sum(bool(flags.iloc[i]) for i in others)),
        "false_memory_flags": int(sum(memory_flags.iloc[i] > 0 for i in range(len(cases)))),
        "other_timed_cases": int(sum(bool(timed.iloc[i]) for i in others)),
        "mde_quantiles": {str(q): float(finite.quantile(q)) for q in (0.1, 0.5, 0.9)} if len(finite) else {},
        "untestable": int(len(mde) - len(finite)), "planted": rows,
    }


def calibrate(folder: Path, plan: dict[str, float], threshold: float) -> dict[str, Any]:
    result = {}
    for metric in CALIBRATED_METRICS:
        comparison, passes = compare_passes(folder, metric, threshold)
        result[metric] = judge(comparison.cases, plan) | {"passes": passes}
    return result


def report_lines(result: dict[str, Any], plan: dict[str, float], wall_s: float) -> list[str]:
    planted = ", ".join(f"{op} +{fraction:.0%}" for op, fraction in plan.items())
    lines = [f"calibration: side B slowed by {planted}; {wall_s / 60:.1f} minutes"]
    for metric, judged in result.items():
        rate = judged["detection_rate"]
        q = judged["mde_quantiles"]
        lines.append(
            f"{metric}: detected {judged['detected']} of {judged['planted_cases']} planted cases"
            f"{f' ({rate:.0%})' if rate is not None else ''}, {judged['visible']} of them with an MDE at or below "
            f"the planted change; false flags: {judged['false_time_flags']} of {judged['other_timed_cases']} other "
            f"timed cases, {judged['false_memory_flags']} memory; MDE 10/50/90th percentile "
            + ("/".join(f"{q[k]:.0%}" for k in ("0.1", "0.5", "0.9")) if q else "-")
            + f" over {judged['passes']} passes")
    return lines


def main(argv: list[str] | None = None) -> int:
    began = time.monotonic()
    try:
        args = _parser().parse_args(argv)
        plan = parse_ops(args.ops, parse_percent(args.slowdown, "--slowdown"))
        compare_namespace = compare_args._parser().parse_args(compare_arguments(args))
        compare_namespace.plant = json.dumps(plan)
        threshold = parse_percent(compare_namespace.threshold, "--threshold")
        code, folder = compare_run.run_in_folder(compare_namespace)
    except BadInput as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return BAD_INPUT
    if code == BAD_INPUT or folder is None:
        print(f"{PROG}: the compare did not complete: no calibration")
        return BAD_INPUT
    result = calibrate(folder, plan, threshold)
    lines = report_lines(result, plan, time.monotonic() - began)
    (folder / "calibrate.json").write_text(json.dumps({"plan": plan, "wall_s": time.monotonic() - began,
                                                       "metrics": result}, indent=1))
    (folder / "calibrate.txt").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"calibration: {folder / 'calibrate.txt'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
