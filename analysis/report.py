"""`python -m analysis report RESULTS -o OUT`: one self-contained HTML page (images embedded as data URIs, so it
opens from disk with no server) and every chart also as a PNG file beside it."""

from __future__ import annotations

from pathlib import Path

from analysis import report_sections as sections
from analysis.compare import CompareSettings, compare_frames
from analysis.html_page import Page
from analysis.load import ResultFileError, frame_of_file, load_runs, read_result_file


def write_report(results: str | Path | list[Path], out_dir: str | Path, *, baseline: str | Path | None = None,
                 threshold: float = 0.05, labels: dict[str, str] | None = None) -> Path:
    runs = load_runs(results if isinstance(results, list) else [results])
    if not runs:
        raise ResultFileError(f"{results}: no result files")
    frames = [frame_of_file(path, data) for path, data in runs]
    latest_path, latest = runs[-1]
    frame = frames[-1]
    if baseline is not None:
        base_path = Path(baseline)
        base_frame = frame_of_file(base_path, read_result_file(base_path))
    elif len(runs) > 1:
        base_path, base_frame = runs[-2][0], frames[-2]
    else:
        base_path, base_frame = None, None
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    page = Page(out, f"statedict-bench report: {latest_path.name}")
    sections.run_summary(page, latest_path, latest["run"], frame)
    comparison = None
    if base_frame is not None and not base_frame.empty and not frame.empty:
        comparison = compare_frames(base_frame, frame, CompareSettings(threshold=threshold))
        if labels:
            comparison.summary["labels"] = labels
    sections.regressions(page, comparison, base_path)
    sections.trends(page, [f for f in frames if not f.empty])
    sections.scaling(page, frame)
    sections.simulated_scale(page, frame)
    sections.ceilings(page, latest["run"], frame)
    sections.memory(page, frame)
    sections.instability(page, frame)
    path = out / "report.html"
    path.write_text(page.html())
    return path
