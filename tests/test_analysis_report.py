"""The HTML report: made from generated runs, every section there, every chart a PNG too; then opened in
headless Chromium, which must decode every image and find the regression table."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from analysis.report import write_report
from tests import result_files as rf

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
RUNS = 8
STEP_RUN = 4
KINDS = [("fsdp1", "get_model", "sharded"), ("fsdp2", "get_model", "sharded"), ("fsdp1", "get_model", "full"),
         ("fsdp2", "get_model", "full"), ("dcp", "save", "sharded")]


def _records(rng, run, last):
    records = []
    i = 0
    for mesh in ((1,), (2,), (4,)):
        for api, op, sdt in KINDS:
            fields = {**rf.case_fields(i, mesh), "api": api, "op": op, "state_dict_type": sdt, "options": {}}
            fields["case_id"] = f"{api}-{op}-{sdt}-mesh{mesh[0]}"
            world = mesh[0]
            median = 0.002 * (world if sdt == "full" else 1 / world) * (1.5 if api == "fsdp1" else 1.0)
            if api == "dcp" and run >= STEP_RUN:
                median *= 1.4  # the step the trend must find, and the regression against the previous run
            extra = {"rss_growth_per_save_bytes": [2**20 * world] * world, "fraction_of_ceiling": 0.25} if last else {}
            records.append(rf.record(fields, rf.noisy_rounds(rng, median, 20, cv=0.04, outlier_share=0.0),
                                     ranks=world, peak_rss_bytes=[(10 + 5 * r) * 2**20 * world for r in range(world)],
                                     **extra))
            i += 1
    records.append(rf.record({**rf.case_fields(99), "api": "fsdp1", "case_id": "fsdp1-broken-mesh2"}, [],
                             status="error", message="rank 1 died with signal SIGSEGV\nmore detail"))
    return records


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("history")
    rng = np.random.default_rng(4)
    for run in range(RUNS):
        last = run == RUNS - 1
        extra = {"ceilings": {"memcpy_gbps": 8.0, "write_fsync_gbps": 1.2, "bytes": 2**28, "seconds": 4.0}} \
            if last else {}
        rf.write(folder / f"run{run}.json", rf.result(_records(rng, run, last), started_at=rf.run_at(run), **extra))
    # the baseline for the report: the runs before the step, each one sample of the history test
    out = tmp_path_factory.mktemp("report")
    return write_report(folder, out, baseline=folder / "run[0-3].json")


def test_report_has_every_section_and_each_chart_as_a_png(report):
    page = report.read_text()
    for heading in ("Run summary", "Regressions against the baseline", "Trends", "Scaling",
                    "Throughput against ceilings", "Memory", "Instability"):
        assert f"<h2>{heading}" in page, heading
    images = re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,', page)
    pngs = sorted(p.stem for p in report.parent.glob("*.png"))
    assert sorted(images) == pngs
    assert {"scaling_time", "scaling_gbps", "full_vs_sharded", "fsdp1_vs_fsdp2", "throughput_vs_ceilings",
            "memory_host", "memory_growth", "trend_dcp_save"} <= set(pngs)
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in report.parent.glob("*.png"))
    assert "rank 1 died with signal SIGSEGV" in page and "more detail" not in page  # the failure's first line
    assert 'id="ceiling-fractions"' in page and 'id="memory-per-rank"' in page


def test_regression_table_flags_the_slowed_cases_against_the_baseline(report):
    page = report.read_text()
    table = page[page.index('id="regression-table"'):]
    table = table[: table.index("</table>")]
    flagged = re.findall(r"<tr><td>([^<]+)</td>.*?<td class=\"regression\">", table)
    assert sorted(flagged) == ["dcp-save-sharded-mesh1", "dcp-save-sharded-mesh2", "dcp-save-sharded-mesh4"]
    # a case that failed in both runs is a known failure, not flagged, and says which status it kept
    assert "<td>fsdp1-broken-mesh2</td>" in table and "known failure (error -&gt; error)" in table


def test_trend_finds_the_step_at_the_run_it_was_put(report):
    page = report.read_text()
    steps = page[page.index('id="steps"'):]
    steps = steps[: steps.index("</table>")]
    assert set(re.findall(r"<td>(dcp-save-sharded-mesh\d)</td><td>(run\d)</td>", steps)) == {
        (f"dcp-save-sharded-mesh{w}", f"run{STEP_RUN}") for w in (1, 2, 4)}


CHECK_SCRIPT = """<script>
window.addEventListener('load', () => {
  const images = [...document.images];
  const result = {images: images.length, decoded: images.filter(i => i.complete && i.naturalWidth > 0).length,
                  regressionTable: !!document.getElementById('regression-table'),
                  rows: document.querySelectorAll('#regression-table tbody tr').length};
  const out = document.createElement('pre'); out.id = 'check-result'; out.textContent = JSON.stringify(result);
  document.body.appendChild(out);
});
</script>"""


def _chromium(profile: Path, *args, timeout=120):
    """Headless, no network of its own, a fresh profile folder: nothing outside the test is read or kept."""
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                           "--disable-background-networking", "--disable-component-update", "--disable-sync",
                           f"--user-data-dir={profile}", *args], capture_output=True, text=True, timeout=timeout)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs it with apt-get)")
def test_report_opens_in_headless_chromium_with_every_image_decoded(report, tmp_path):
    # The report itself carries no script; a copy gets one that writes what the browser saw into the page.
    checked = tmp_path / "checked.html"
    checked.write_text(report.read_text().replace("</body>", CHECK_SCRIPT + "</body>"))
    done = _chromium(tmp_path / "profile", "--virtual-time-budget=10000", "--dump-dom", checked.as_uri())
    found = re.search(r'<pre id="check-result">(.*?)</pre>', done.stdout)
    assert found, done.stderr[-2000:]
    result = json.loads(found.group(1).replace("&quot;", '"'))
    assert result["images"] >= 8 and result["decoded"] == result["images"], result
    assert result["regressionTable"] and result["rows"] == 16, result
    screenshot = tmp_path / "screenshot.png"  # not beside the report: its folder holds only its charts
    _chromium(tmp_path / "profile", "--window-size=1400,6000", f"--screenshot={screenshot}", report.as_uri())
    assert screenshot.stat().st_size > 10_000


def test_cli_report_writes_the_page_and_says_where(tmp_path):
    rng = np.random.default_rng(0)
    rf.write(tmp_path / "runs" / "only.json", rf.result(_records(rng, 0, True)))
    done = subprocess.run([sys.executable, "-m", "analysis", "report", str(tmp_path / "runs"), "-o",
                           str(tmp_path / "out")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"report: {tmp_path / 'out' / 'report.html'}"
    assert "No baseline: the folder holds one run" in (tmp_path / "out" / "report.html").read_text()


def test_only_gbps_figures_of_the_run_are_drawn_as_ceilings():
    from analysis.report_sections import _ceiling_values

    run_ceilings = {"folder": "/tmp/x", "bytes": 2**28, "memcpy_gbps": 8.0, "write_fsync_gbps": 1.2,
                    "cuda_error": "no GPU", "seconds": 4.0}
    assert _ceiling_values(run_ceilings) == {"memcpy_gbps": 8.0, "write_fsync_gbps": 1.2}


def test_a_run_whose_cases_move_no_bytes_still_gets_its_report(tmp_path):
    """Throughput is None in every record (a selection of null cases): the column must still be a number column
    for the ceilings chart, not the object column pandas makes of all-None values."""
    records = [rf.record({**rf.case_fields(i), "case_id": f"null-noop-{i}"}, [0.001, 0.0011, 0.0012],
                         throughput_gbps=None, bytes_global=0) for i in range(3)]
    run = rf.write(tmp_path / "run.json", rf.result(records, ceilings={"memcpy_gbps": 8.0, "bytes": 2**28,
                                                                       "seconds": 4.0}))
    page = write_report(run, tmp_path / "report").read_text()
    assert "Throughput against ceilings" in page and "null-noop-0" in page
