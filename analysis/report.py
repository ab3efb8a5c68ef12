"""`python -m analysis report RESULTS -o OUT`: one self-contained HTML page (images embedded as data URIs, so it
opens from disk with no server) and every chart also as a PNG file beside it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis import report_sections as sections
from analysis import scaling_section
from analysis.case_page import write_case_pages
from analysis.compare import CompareSettings, compare_frames
from analysis.glance import first_screen
from analysis.html_page import Page
from analysis.load import ResultFileError, concat_frames, frame_of_file, frame_of_runs, load_runs
from analysis.metrics import DEFAULT_METRIC

HISTORY_RUNS = 10
"""Without a --baseline, the latest run is judged against this many runs before it."""


def write_report(results: str | Path | list[Path], out_dir: str | Path, *,
                 baseline: str | Path | list[Path] | None = None,
                 threshold: float = 0.05, labels: dict[str, str] | None = None, all_runs: bool = False,
                 metric: str = DEFAULT_METRIC) -> Path:
    """The report of the latest run in `results`, compared with `baseline` (a file, folder or glob; default: the
    HISTORY_RUNS runs before the latest). With `all_runs`, every run of `results` is compared with every run of
    `baseline`, each run one sample of the time test (compare mode's passes). `metric`: the rounds judged and
    charted (analysis/metrics.py)."""
    runs = load_runs(results if isinstance(results, list) else [results], metric)
    if not runs:
        raise ResultFileError(f"{results}: no result files")
    frames = [frame_of_file(path, data) for path, data in runs]
    latest_path, latest = runs[-1]
    frame = frames[-1]
    if baseline is not None:
        base_runs = load_runs(baseline if isinstance(baseline, list) else [baseline], metric)
        base_path = base_runs[0][0] if len(base_runs) == 1 else f"{baseline} ({len(base_runs)} runs)"
        base_frame = frame_of_runs(base_runs)
    elif len(runs) > 1:  # the history before the latest run, each run one sample (analysis.run_tests: history)
        earlier = runs[-1 - HISTORY_RUNS:-1]
        base_path = earlier[0][0] if len(earlier) == 1 else f"the {len(earlier)} runs before it"
        base_frame = concat_frames(frames[-1 - HISTORY_RUNS:-1])
    else:
        base_path, base_frame = None, None
    compared = concat_frames(frames) if all_runs else frame  # the frames read above, not read again
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    comparison = None
    if base_frame is not None and not base_frame.empty and not compared.empty:
        comparison = compare_frames(base_frame, compared, CompareSettings(threshold=threshold))
        if labels:
            comparison.summary["labels"] = labels
    runs_of_cases = concat_frames([side_frame(base_frame, "baseline"), side_frame(compared, "reported")])
    case_pages = write_case_pages(out, frame, runs_of_cases, comparison.cases if comparison else None)
    page = Page(out, f"statedict-bench report: {latest_path.name}", case_pages)
    glance = first_screen(latest_path, latest["run"], frame, comparison, base_path, case_pages, page.chart)
    sections.regressions(page, comparison, base_path)
    sections.trends(page, [f for f in frames if not f.empty], metric)
    scaling_section.scaling(page, frame)
    scaling_section.simulated_scale(page, frame)
    sections.ceilings(page, latest["run"], frame)
    sections.memory(page, frame)
    sections.instability(page, frame)
    sections.run_summary(page, latest_path, latest["run"], frame)
    path = out / "report.html"
    path.write_text(page.html(glance))
    return path


def side_frame(frame: pd.DataFrame | None, side: str) -> pd.DataFrame:
    """The rows of one side of the report's comparison, marked with it (the case pages' runs)."""
    if frame is None or frame.empty:
        return pd.DataFrame()
    rows = frame[["case", "run_file", "run_label", "round_times_s"]].assign(side=side)
    return rows.drop_duplicates(["case", "run_file"])
