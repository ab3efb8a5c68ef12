"""The HTML report: made from generated runs, every section there, every chart a PNG too and every chart within the
report's rules (a question for a title, at most 8 series a panel, each named, units); case pages linked from the
tables; then opened in headless Chromium, which must decode every image, find the regression table, hold the summary
in the first screen and see the case pages' charts named in their legends."""

import html
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from analysis.chart_facts import chart_facts, chart_problems
from analysis.charts import plt
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
            rounds = rf.noisy_rounds(rng, median, 20, cv=0.04, outlier_share=0.0)
            if api == "dcp":  # a save's phases: planning a fifth of every rank's round, writing the rest
                extra["phases_s"] = {"plan": [[0.2 * t] * world for t in rounds],
                                     "write": [[0.8 * t] * world for t in rounds]}
            records.append(rf.record(fields, rounds, ranks=world,
                                     peak_rss_bytes=[(10 + 5 * r) * 2**20 * world for r in range(world)], **extra))
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


def _figures(page):
    """(name, facts) of every chart figure of a page."""
    return [(name, json.loads(html.unescape(facts)))
            for name, facts in re.findall(r'<figure class="chart" data-name="([^"]+)" data-facts="([^"]+)"', page)]


def test_report_has_every_section_and_each_chart_as_a_png(report):
    page = report.read_text()
    for heading in ("Regressions against the baseline", "Trends", "Scaling", "Throughput against ceilings", "Memory",
                    "Instability", "Run details"):
        assert re.search(f'<h2 id="[^"]+">{heading}', page), heading
    names = [name for name, _ in _figures(page)]
    pngs = sorted(p.stem for p in report.parent.glob("*.png"))
    assert sorted(names) == pngs and len(re.findall(r'<img alt="[^"]+" src="data:image/png;base64,', page)) == len(pngs)
    assert {"mde", "scaling_time_fsdp1_get_model", "scaling_time_dcp_save", "scaling_memory_fsdp2_get_model",
            "full_vs_sharded", "fsdp1_vs_fsdp2", "throughput_vs_ceilings", "memory_host", "memory_growth",
            "trend_dcp_save"} <= set(pngs)
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in report.parent.glob("*.png"))
    assert "rank 1 died with signal SIGSEGV" in page and "more detail" not in page  # the failure's first line
    assert 'id="ceiling-fractions"' in page and 'id="memory-per-rank"' in page


def test_every_chart_asks_its_question_and_names_each_of_at_most_8_series_per_panel(report):
    figures = _figures(report.read_text())
    assert figures
    for name, facts in figures:
        assert chart_problems(facts) == [], (name, facts)
    # the scaling figure's legend gives each line's fitted exponent; sharded get_model time falls as 1/N here
    scaling = dict(figures)["scaling_time_fsdp1_get_model"]
    assert scaling["title"] == "How does get_model's time grow with ranks? (fsdp1)"
    legend = scaling["panels"][0]["legend"]
    assert any(entry.startswith("sharded: N^-1.0") for entry in legend), legend
    assert any(entry.startswith("full: N^1.0") for entry in legend), legend


def test_chart_rules_fail_a_chart_that_breaks_them():
    """The check the report's charts pass is one a bad chart fails: ten unnamed lines, no question, no unit."""
    fig, ax = plt.subplots()
    for i in range(10):
        ax.plot([1, 2, 4], [i, i + 1, i + 2])
    ax.set_title("Time against world size")
    ax.set_xlabel("world size")
    problems = chart_problems(chart_facts(fig))
    assert any("asks no question" in p for p in problems)
    assert any("10 series, more than 8" in p for p in problems)
    assert any("10 series named neither in a legend nor by a label" in p for p in problems)
    assert any("no axis label with a unit" in p for p in problems)
    for i, line in enumerate(ax.lines[:8]):
        line.set_label(f"variant {i}")
    for line in ax.lines[8:]:
        line.remove()
    ax.legend()
    ax.set_title("How does time grow with ranks?")
    ax.set_xlabel("world size (ranks)")
    assert chart_problems(chart_facts(fig)) == []
    plt.close(fig)


def test_regression_table_flags_the_slowed_cases_against_the_baseline(report):
    page = report.read_text()
    table = page[page.index('id="regression-table"'):]
    table = table[: table.index("</table>")]
    flagged = re.findall(r'<tr><td><a href="cases/[^"]+">([^<]+)</a></td>.*?<td class="regression">', table)
    assert sorted(flagged) == ["dcp-save-sharded-mesh1", "dcp-save-sharded-mesh2", "dcp-save-sharded-mesh4"]
    # a case that failed in both runs is a known failure, not flagged, and says which status it kept
    assert "fsdp1-broken-mesh2</a></td>" in table and "known failure (error -&gt; error)" in table


def test_first_screen_holds_verdicts_flagged_cases_machine_build_and_what_it_could_detect(report):
    page = report.read_text()
    glance = page[page.index('<section id="at-a-glance"'):page.index("</section>")]
    assert page.index("at-a-glance") < page.index("<h2")  # before every section
    assert '<span class="count regression">3 regression</span>' in glance
    flagged = glance[glance.index('id="flagged"'):]
    assert re.findall(r'<a href="cases/[^"]+">([^<]+)</a></td><td>(1\.[34]\d\d)</td><td>(1\.\d+-1\.\d+)</td>',
                      flagged) and flagged.count("<tr>") == 1 + 3
    assert "Test CPU, 2 cores" in glance and "2.13.0+cpu (commit aaaaaaaaaaaa)" in glance
    assert "minimum detectable effect" in glance and 'data-name="mde"' in glance


def test_each_case_has_a_page_with_its_ranks_phases_memory_and_runs(report):
    page = report.read_text()
    links = set(re.findall(r'<a href="(cases/[^"]+)">', page))
    assert len(links) == 16 and all((report.parent / link).is_file() for link in links)
    case = (report.parent / "cases" / "dcp-save-sharded-mesh2.html").read_text()
    charts = dict(_figures(case))
    assert set(charts) == {"ranks", "phases", "memory", "runs"}
    assert charts["ranks"]["panels"][0]["labels"] == ["rank 0: slowest in 20 of 20", "rank 1: slowest in 0 of 20"]
    assert charts["phases"]["panels"][0]["legend"] == ["plan", "write"]
    assert [label.split(":")[0] for label in charts["runs"]["panels"][0]["labels"]] == ["baseline"] * 4 + ["reported"]
    assert "<td>regression</td>" in case  # its comparison, beside the drill-down


def test_trend_finds_the_step_at_the_run_it_was_put(report):
    page = report.read_text()
    steps = page[page.index('id="steps"'):]
    steps = steps[: steps.index("</table>")]
    assert set(re.findall(r">(dcp-save-sharded-mesh\d)</a></td><td>(run\d)</td>", steps)) == {
        (f"dcp-save-sharded-mesh{w}", f"run{STEP_RUN}") for w in (1, 2, 4)}


CHECK_SCRIPT = """<script>
window.addEventListener('load', () => {
  const images = [...document.images];
  const glance = document.getElementById('at-a-glance');
  const charts = [...document.querySelectorAll('figure.chart')].map(f => {
    const facts = JSON.parse(f.dataset.facts);
    return {name: f.dataset.name, caption: f.querySelector('figcaption').textContent, title: facts.title,
            panels: facts.panels.map(p => ({series: p.series.length, named: p.series.filter(
              s => s && (p.legend.includes(s) || p.labels.includes(s) || s === 'ticks')).length}))};
  });
  // an inline SVG chart (the case pages), read from its drawing: its title, and the series of its marks against
  // the entries of its legend
  const svgs = [...document.querySelectorAll('figure.chart svg')].map(svg => ({
    title: svg.querySelector('.chart-title').textContent,
    series: [...new Set([...svg.querySelectorAll('[data-series]')].map(m => m.dataset.series))],
    legend: [...svg.querySelectorAll('.legend-entry')].map(t => t.textContent)}));
  const result = {images: images.length, decoded: images.filter(i => i.complete && i.naturalWidth > 0).length,
                  regressionTable: !!document.getElementById('regression-table'),
                  rows: document.querySelectorAll('#regression-table tbody tr').length, charts: charts, svgs: svgs,
                  glanceBottom: glance ? glance.getBoundingClientRect().bottom + window.scrollY : null,
                  glanceText: glance ? glance.innerText : ''};
  const out = document.createElement('pre'); out.id = 'check-result'; out.textContent = JSON.stringify(result);
  document.body.appendChild(out);
});
</script>"""
FIRST_SCREEN_PX = 900


def _chromium(profile: Path, *args, timeout=120):
    """Headless, no network of its own, a fresh profile folder: nothing outside the test is read or kept."""
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                           "--disable-background-networking", "--disable-component-update", "--disable-sync",
                           f"--user-data-dir={profile}", *args], capture_output=True, text=True, timeout=timeout)


def _seen_by_chromium(page: Path, folder: Path) -> dict:
    """What the browser saw of `page`: a copy beside it (so relative links hold) gets CHECK_SCRIPT, which writes it
    into the page; the report itself carries no script."""
    checked = page.parent / f"checked-{page.name}"
    checked.write_text(page.read_text().replace("</body>", CHECK_SCRIPT + "</body>"))
    try:
        done = _chromium(folder / "profile", f"--window-size=1400,{FIRST_SCREEN_PX}", "--virtual-time-budget=10000",
                         "--dump-dom", checked.as_uri())
    finally:
        checked.unlink()
    found = re.search(r'<pre id="check-result">(.*?)</pre>', done.stdout)
    assert found, done.stderr[-2000:]
    return json.loads(html.unescape(found.group(1)))


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs it with apt-get)")
def test_report_opens_in_headless_chromium_readable_at_a_glance(report, tmp_path):
    result = _seen_by_chromium(report, tmp_path)
    assert result["images"] >= 10 and result["decoded"] == result["images"], result
    assert result["regressionTable"] and result["rows"] == 16, result
    assert len(result["charts"]) == result["images"]  # every image is a chart with its facts
    for chart in result["charts"]:
        assert "?" in chart["title"] and chart["caption"] == chart["title"], chart
        assert all(p["series"] <= 8 and p["named"] == p["series"] for p in chart["panels"]), chart
    # the first screen (the top 900 px, 1400 wide) holds the whole summary: verdicts, flagged cases, machine, build,
    # what it could detect
    assert result["glanceBottom"] <= FIRST_SCREEN_PX, result["glanceBottom"]
    for words in ("3 regression", "dcp-save-sharded-mesh4", "1.393-1.477", "Test CPU", "2.13.0+cpu",
                  "minimum detectable effect"):
        assert words in result["glanceText"], words
    screenshot = tmp_path / "screenshot.png"  # not beside the report: its folder holds only its charts
    _chromium(tmp_path / "profile", "--window-size=1400,6000", f"--screenshot={screenshot}", report.as_uri())
    assert screenshot.stat().st_size > 10_000


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs it with apt-get)")
def test_a_case_page_opens_with_every_chart_series_in_its_legend(report, tmp_path):
    result = _seen_by_chromium(report.parent / "cases" / "dcp-save-sharded-mesh4.html", tmp_path)
    assert [svg["title"].split("?")[0] for svg in result["svgs"]] == [
        "Which rank is slowest", "Where does a round's time go", "How much memory does each rank take",
        "How do the runs' rounds compare"]
    for svg in result["svgs"]:
        assert 0 < len(svg["series"]) <= 8 and set(svg["series"]) <= set(svg["legend"]), svg
    assert set(result["svgs"][3]["series"]) == {"baseline run", "reported run", "median and IQR"}


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
