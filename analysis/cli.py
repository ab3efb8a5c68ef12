"""The command line: `python -m analysis compare|trend|report|nightly|export ...`.

Exit codes: 0 done (compare: no flagged regression), 1 compare flagged a regression, 2 bad input (one line on
stderr naming the file and the reason).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from analysis.compare import CompareSettings, compare_runs
from analysis.export import FORMATS as EXPORT_FORMATS, export
from analysis.history import ORDERS
from analysis.load import ResultFileError, load_frame, load_runs
from analysis.metrics import DEFAULT_METRIC, METRICS
from analysis.render import FORMATS, render_comparison, render_trend
from analysis.trend import all_steps

BAD_INPUT = 2


def parse_threshold(text: str) -> float:
    """'5%' or '0.05' -> 0.05."""
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"threshold {text!r} is not a number like 5% or 0.05") from None
    if not 0 <= value < 10:
        raise argparse.ArgumentTypeError(f"threshold {text!r} must be between 0% and 1000%")
    return value


def parse_labels(text: str) -> dict[str, str]:
    """'2.13.0,2.14.1' -> {'base': '2.13.0', 'new': '2.14.1'}."""
    parts = text.split(",")
    if len(parts) != 2 or not all(part.strip() for part in parts):
        raise argparse.ArgumentTypeError(f"labels {text!r} must be two names separated by a comma: BASE,NEW")
    return {"base": parts[0].strip(), "new": parts[1].strip()}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m analysis", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    compare = commands.add_parser("compare", help="compare two runs (or folders of runs) case by case")
    compare.add_argument("base", help="result file, folder or glob of the baseline")
    compare.add_argument("new", help="result file, folder or glob to compare with it")
    compare.add_argument("--threshold", type=parse_threshold, default=0.05,
                         help="smallest relative change that is flagged (default 5%%)")
    compare.add_argument("--correction", choices=("holm", "bh"), default="holm",
                         help="multiple-testing correction: holm (default) or bh (Benjamini-Hochberg)")
    compare.add_argument("--format", choices=FORMATS, default="text")
    compare.add_argument("--labels", type=parse_labels, help="names of the two sides: BASE,NEW")
    trend = commands.add_parser("trend", help="history of each case across runs and the steps in it")
    trend.add_argument("results", help="folder (or glob) of result files")
    trend.add_argument("--order", choices=ORDERS, default="time", help="order runs by start time or torch commit")
    trend.add_argument("--format", choices=FORMATS, default="text")
    report = commands.add_parser("report", help="HTML report with charts of a folder of runs")
    report.add_argument("results", help="folder (or glob) of result files; the latest run is reported")
    report.add_argument("-o", "--output", required=True, help="folder for report.html and the charts' PNGs")
    report.add_argument("--baseline", help="result file (or folder or glob of them) to compare with (default: the "
                                           "run before the latest)")
    report.add_argument("--all-runs", action="store_true",
                        help="compare every run of RESULTS, not only the latest, with the baseline's runs (each run "
                             "one sample of the time test)")
    report.add_argument("--threshold", type=parse_threshold, default=0.05)
    report.add_argument("--labels", type=parse_labels, help="names of the baseline and the reported run: BASE,NEW")
    nightly = commands.add_parser("nightly", help="judge a finished nightly run against the last good runs of "
                                                  "its history (what run_bench.sh nightly calls)")
    nightly.add_argument("run", help="the nightly run's result file")
    nightly.add_argument("--history", required=True,
                         help="folder of this machine's nightly runs: the baseline's runs are picked there, the "
                              "report covers it")
    nightly.add_argument("--history-runs", default="10", metavar="N",
                         help="how many of the last successful runs of the same profile in --history make the "
                              "baseline (default 10; 1 or more)")
    nightly.add_argument("--baseline", help="result file, folder or glob: exactly these runs are the baseline "
                                            "(default: the last --history-runs successful runs of the same profile "
                                            "in --history)")
    nightly.add_argument("--pytest-status", type=int, help="the benchmark run's exit code (2 or more: broken)")
    nightly.add_argument("--report-dir", help="where the history report goes (default: no report)")
    nightly.add_argument("--threshold", type=parse_threshold, default=0.05)
    export = commands.add_parser("export", help="result files in other tools' formats: pytorch-v3 (PyTorch's OSS "
                                                 "benchmark database), github-action-benchmark, csv, parquet")
    export.add_argument("files", nargs="*", help="result files, folders of them, globs, or compare folders")
    export.add_argument("--format", help=f"one of {', '.join(EXPORT_FORMATS)} (docs/result-format.md, \"Exports\")")
    export.add_argument("-o", "--output", help="the file to write")
    for command in (compare, trend, report, nightly):
        command.add_argument("--metric", choices=tuple(METRICS), default=DEFAULT_METRIC,
                             help="the per-round measurement judged: wall time (default), cpu (the rank's CPU time, "
                                  "blind to waiting) or instructions (runs made with --metric instructions); see "
                                  "docs/measuring.md")
    return parser


def run_compare(args: argparse.Namespace) -> int:
    settings = CompareSettings(threshold=args.threshold, correction=args.correction)
    comparison = compare_runs(load_runs([args.base], args.metric), load_runs([args.new], args.metric), settings)
    for warning in comparison.summary["comparability_warnings"]:  # also on stderr: seen when stdout is a file
        print(f"warning: {warning}", file=sys.stderr)
    if args.labels:
        comparison.summary["labels"] = args.labels
    print(render_comparison(comparison, args.format))
    return 1 if comparison.summary["flagged_regressions"] else 0


def run_trend(args: argparse.Namespace) -> int:
    frame = load_frame(args.results, args.metric)
    series, steps = all_steps(frame, args.order)
    runs = int(frame["run_file"].nunique()) if len(frame) else 0
    print(render_trend(series, steps, runs, args.order, args.format, args.metric))
    return 0


def run_report(args: argparse.Namespace) -> int:
    from analysis.report import (
        write_report,  # matplotlib is slow to import; only the report needs it
    )

    path = write_report(args.results, args.output, baseline=args.baseline, threshold=args.threshold,
                        labels=args.labels, all_runs=args.all_runs, metric=args.metric)
    print(f"report: {path}")
    return 0


def run_nightly(args: argparse.Namespace) -> int:
    from analysis.nightly import nightly, parse_history_runs

    history_runs = parse_history_runs(args.history_runs)  # ValueError: one line, exit 2 (main)
    code, lines = nightly(Path(args.run), Path(args.history), baseline=args.baseline and Path(args.baseline),
                          pytest_status=args.pytest_status, report_dir=args.report_dir and Path(args.report_dir),
                          threshold=args.threshold, history_runs=history_runs, metric=args.metric)
    print("\n".join(lines))
    return code


def run_export(args: argparse.Namespace) -> int:
    done, notes = export(args.files, args.format, args.output)  # checks its own arguments: one line each
    for note in notes:
        print(note, file=sys.stderr)
    print(done)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handler = {"compare": run_compare, "trend": run_trend, "report": run_report,
               "nightly": run_nightly, "export": run_export}[args.command]
    try:
        return handler(args)
    except (ResultFileError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return BAD_INPUT
