"""run_bench.sh as a user runs it: result names that never collide, each run's report beside it, bad input in one
line, SIGTERM passed on."""

import json
import signal
import subprocess
import time

import psutil

from tests.conftest import ROOT, left_running

QUICK = ["--", "--mesh", "1", "--model", "dummy", "-k", "null", "--min-rounds", "2", "--max-rounds", "2",
         "--warmup-rounds", "0", "--budget-s", "0"]


def _start(*args):
    return subprocess.Popen(["./run_bench.sh", *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def test_two_runs_at_once_write_two_files(tmp_path):
    runs = [_start("--results-dir", str(tmp_path), *QUICK) for _ in range(2)]
    outputs = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    files = sorted(tmp_path.glob("*.json"))
    assert len(files) == 2 and len(sorted(tmp_path.glob("*.log"))) == 2
    for path in files:
        assert json.loads(path.read_text())["run"]["status_counts"] == {"ok": 1}
        report = path.with_name(path.stem + "_report") / "report.html"
        assert report.is_file() and path.name in report.read_text()  # each run's own report, named for it
        assert any(f"report: {report}" in out for out, _ in outputs)


def test_a_run_reports_itself_against_the_earlier_runs_of_its_profile(tmp_path):
    first = _start("--results-dir", str(tmp_path), *QUICK)
    first.communicate(timeout=300)
    second = _start("--results-dir", str(tmp_path), *QUICK)
    stdout, stderr = second.communicate(timeout=300)
    assert (first.returncode, second.returncode) == (0, 0), stdout + stderr
    older, newer = sorted(tmp_path.glob("*_quick_*.json"))
    html = (newer.with_name(newer.stem + "_report") / "report.html").read_text()
    assert newer.name in html and older.name in html  # the earlier run is the baseline


def test_bad_input_is_one_line_exit_2_and_leaves_no_file(tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    for args, message in [(["--profile", "fast"], "statedict-bench: error: unknown profile 'fast'"),
                          (["--results-dir", str(blocker / "sub")], "run_bench.sh: error: cannot create results")]:
        results = tmp_path / "results"
        run = _start("--results-dir", str(results), *args) if "--results-dir" not in args else _start(*args)
        stdout, stderr = run.communicate(timeout=120)
        said = stdout + stderr  # pytest's own line comes through the log's pipe, on stdout
        assert run.returncode == 2 and said.count("\n") == 1 and said.startswith(message), said
        assert not results.exists() or not list(results.iterdir())


def test_sigterm_to_run_bench_stops_the_run_and_keeps_the_finished_cases(tmp_path):
    run = _start("--results-dir", str(tmp_path), "--", "--mesh", "2", "--model", "dummy", "-k", "null",
                 "--min-rounds", "2", "--max-rounds", "2", "--warmup-rounds", "0", "--budget-s", "0",
                 "--fault", "hang:0", "--case-timeout-s", "600")
    try:
        deadline = time.monotonic() + 240
        while not [p for p in tmp_path.glob("*.json") if p.stat().st_size] and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)
        suite = psutil.Process(run.pid).children(recursive=True)
        run.send_signal(signal.SIGTERM)
        stdout, _ = run.communicate(timeout=120)
    finally:
        run.kill()
    assert run.returncode == 2
    [path] = tmp_path.glob("*.json")
    data = json.loads(path.read_text())
    assert data["run"]["complete"] is False and [b["name"] for b in data["benchmarks"]] == [
        "test_state_dict[null-noop-mesh2]"]
    assert "incomplete: the run was interrupted" in stdout
    assert not left_running([p.pid for p in suite])
