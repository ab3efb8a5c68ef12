"""Faults injected into whole benchmark runs (`--fault`), as a user runs them: every fault ends its case, the run
goes on, the result file on disk always holds every finished case, and no process of the suite is left."""

import json
import signal
import subprocess
import time

import psutil
import pytest

from tests.conftest import FAST, ROOT, bench_command, default_sigint, left_running, run_bench

SELECT = ["-k", "null or (fsdp2 and set_model and sharded)"]  # null, the faults (after it), then a real case


def _records(data):
    return {r["extra_info"]["case_id"]: r["extra_info"] for r in data["benchmarks"] + data.get("untimed_cases", [])}


def test_ranks_that_die_or_hang_fail_their_case_and_the_run_goes_on(tmp_path):
    path = tmp_path / "faults.json"
    done = run_bench(*FAST, *SELECT, "--fault", "kill:1", "--fault", "segfault:0", "--fault", "exit:1",
                     "--fault", "hang:0", "--case-timeout-s", "5", f"--benchmark-json={path}")
    assert done.returncode == 1, done.stdout[-3000:]
    data = json.loads(path.read_text())
    records = _records(data)
    outcomes = {case_id: (r["status"], r["message"]) for case_id, r in records.items()}
    assert outcomes["null-noop-fault_kill-fault_rank_1-mesh2"] == ("error", "rank 1 died: SIGKILL (exit code -9)")
    assert outcomes["null-noop-fault_segfault-fault_rank_0-mesh2"] == ("error", "rank 0 died: SIGSEGV (exit code -11)")
    assert outcomes["null-noop-fault_exit-fault_rank_1-mesh2"] == ("error", "rank 1 exited with code 3")
    assert outcomes["null-noop-fault_hang-fault_rank_0-mesh2"] == ("timeout", "ranks [0, 1] did not finish within 5 s")
    assert outcomes["fsdp2-set_model-sharded-method_dsd-dummy-mesh2"][0] == "ok"  # after four faults
    run = data["run"]
    assert run["complete"] is True and run["cases"] == 6 and run["world_starts"] == 5  # a restart per fault
    assert len(run["rank_pids"]) == 10 and not left_running(run["rank_pids"])


def _wait_for_cases(path, count, proc, timeout_s=240):
    """Wait until the result file holds `count` finished cases (it is rewritten after each)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the run ended early"
        if path.exists():
            data = json.loads(path.read_text())  # must always parse: written whole or not at all
            if len(_records(data)) >= count:
                return data
        time.sleep(0.2)
    raise AssertionError(f"{path} did not reach {count} cases")


def _interrupt_a_hung_run(path, signum):
    """Start a run whose second case hangs; once the first is in the file, send `signum` to pytest."""
    proc = subprocess.Popen(bench_command(*FAST, *SELECT, "--fault", "hang:1", "--case-timeout-s", "600",
                                          f"--benchmark-json={path}"),
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=default_sigint)
    try:
        assert _wait_for_cases(path, 1, proc)["run"]["complete"] is False
        time.sleep(1.0)  # into the hung case
        suite = psutil.Process(proc.pid).children(recursive=True)
        assert len(suite) >= 2  # the hung world's ranks
        proc.send_signal(signum)
        output, _ = proc.communicate(timeout=120)
    finally:
        proc.kill()
    return proc.returncode, output, suite


@pytest.fixture(scope="module")
def sigterm_run(tmp_path_factory):
    """A run stopped by SIGTERM in its hung second case: (its file's path, the file's content then, returncode,
    output, the suite's processes before the signal). The resume test continues this very file."""
    path = tmp_path_factory.mktemp("sigterm") / "interrupted.json"
    returncode, output, suite = _interrupt_a_hung_run(path, signal.SIGTERM)
    return path, json.loads(path.read_text()), returncode, output, suite


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_interrupted_run_keeps_what_finished_marked_incomplete_and_leaves_no_process(tmp_path, signum,
                                                                                      sigterm_run):
    if signum == signal.SIGTERM:
        path, data, returncode, output, suite = sigterm_run
    else:
        path = tmp_path / "interrupted.json"
        returncode, output, suite = _interrupt_a_hung_run(path, signum)
        data = json.loads(path.read_text())
    assert returncode == 2, output[-3000:]  # pytest's code for an interrupted run
    assert data["run"]["complete"] is False
    assert list(_records(data)) == ["null-noop-mesh2"] and data["benchmarks"][0]["stats"]["rounds"] == 3
    assert not left_running([p.pid for p in suite])
    assert not list(path.parent.glob(".*"))  # no temporary file left beside it


def test_resume_runs_only_the_missing_cases_and_completes_the_file(sigterm_run):
    path, first, *_ = sigterm_run
    done = run_bench(*FAST, *SELECT, "--case-timeout-s", "600", "--resume", str(path))  # without the hang
    assert done.returncode == 0, done.stdout[-3000:]
    assert done.stdout.splitlines()[-1].startswith("1 passed")
    data = json.loads(path.read_text())
    assert data["benchmarks"][0] == first["benchmarks"][0]  # the finished case, kept as it was
    records = _records(data)
    assert list(records) == ["null-noop-mesh2", "fsdp2-set_model-sharded-method_dsd-dummy-mesh2"]
    assert [r["sequence"] for r in records.values()] == [0, 1]
    run = data["run"]
    assert run["complete"] is True and run["cases"] == 2 and run["status_counts"] == {"ok": 2}
    assert [r["complete"] for r in run["resumed_runs"]] == [False]
    again = run_bench(*FAST, *SELECT, "--case-timeout-s", "600", "--resume", str(path))  # nothing left to run
    assert again.returncode == 5 and "no case of profile 'quick' that the resumed file lacks" in again.stdout
    assert _records(json.loads(path.read_text())) == records


def test_results_folder_lost_mid_run_fails_the_cases_not_the_run(tmp_path):
    folder = tmp_path / "results"
    path = folder / "run.json"
    proc = subprocess.Popen(bench_command(*FAST, *SELECT, "--fault", "hang:1", "--case-timeout-s", "5",
                                          f"--benchmark-json={path}"),
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_cases(path, 1, proc)
        folder.rename(tmp_path / "moved")
        folder.write_text("")  # the folder's name is now a file: every later write fails
        stdout, stderr = proc.communicate(timeout=240)
    finally:
        proc.kill()
    assert proc.returncode == 1
    assert "2 failed, 1 passed" in stdout.splitlines()[-1]  # the run went on to its last case
    # One failure section per case; the short summary repeats the message only on a wide terminal (COLUMNS).
    said = [line for line in stdout.splitlines() if line.startswith(f"error: results file {path} not written")]
    assert len(said) == 2, stdout
    assert stderr.strip().splitlines()[-1].startswith(f"statedict-bench: error: results file {path} not written")
    saved = json.loads((tmp_path / "moved" / "run.json").read_text())  # what was written before is intact
    assert list(_records(saved)) == ["null-noop-mesh2"] and saved["run"]["complete"] is False
