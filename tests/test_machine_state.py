"""The machine's state before a run: other processes' CPU, load, memory, governor; the busy warning in the output
and the file. (The progress line of a run: tests/test_progress.py.)"""

import json
import os
import subprocess
import sys

import psutil
import pytest

from bench.machine.state import DRIVER_PID_ENV, assess, machine_state
from tests.conftest import FAST, run_bench

BURN = "import time\nend = time.time() + 120\nwhile time.time() < end: pass"


def _quiet(**changes):
    state = {"cores": 2, "other_cpu_percent": 0.0, "busiest": [], "load_average": [0.1, 0.1, 0.1],
             "available_memory_bytes": 20 * 2**30, "total_memory_bytes": 24 * 2**30, "cpu_governors": []}
    return {**state, **changes}


def test_assess_warns_of_each_kind_of_trouble_and_of_nothing_on_a_quiet_machine():
    assert assess(_quiet()) == []
    busy = assess(_quiet(other_cpu_percent=95.0, busiest=[{"pid": 7, "name": "make", "cpu_percent": 95.0}]))
    assert busy == ["busy machine: other processes used 95% of one core's time of 2 cores while the run started "
                    "(make (pid 7) 95%)"]
    assert assess(_quiet(other_cpu_percent=19.0)) == []  # under 10% of 2 cores
    assert assess(_quiet(load_average=[1.5, 1.0, 0.5])) == ["busy machine: the 1-minute load average is 1.50 on 2 "
                                                            "cores"]
    assert assess(_quiet(load_average=[1.5, 1.0, 0.5], load_average_judged=False)) == []  # compare mode
    assert assess(_quiet(available_memory_bytes=2**30)) == ["low memory: 1.0 of 24.0 GiB available"]
    assert assess(_quiet(cpu_governors=["performance"])) == []
    assert assess(_quiet(cpu_governors=["powersave"]))[0].startswith("CPU frequency governor powersave")


@pytest.fixture
def stranger():
    """A CPU burner that is not this process's child (its shell exits at once): 'another process' on the machine."""
    pid = int(subprocess.run(["sh", "-c", f"{sys.executable} -c '{BURN}' >/dev/null 2>&1 & echo $!"],
                             capture_output=True, text=True, check=True).stdout)
    yield pid
    psutil.Process(pid).kill()


def test_another_process_burning_cpu_makes_the_machine_busy(stranger):
    state = machine_state(sample_s=1.0)
    assert state["busy"] is True
    assert stranger in [p["pid"] for p in state["busiest"]]
    assert any(w.startswith("busy machine: other processes used") for w in state["warnings"])


def test_own_children_and_a_declared_driver_are_not_other_processes(stranger, monkeypatch):
    child = subprocess.Popen([sys.executable, "-c", BURN])
    try:
        monkeypatch.setenv(DRIVER_PID_ENV, str(stranger))  # as the compare driver declares itself to both sides
        pids = [p["pid"] for p in machine_state(sample_s=1.0)["busiest"]]
        assert child.pid not in pids and stranger not in pids
    finally:
        child.kill()
        child.wait()


def test_busy_warning_is_printed_and_stored_in_the_result_file(stranger, tmp_path):
    out = tmp_path / "run.json"
    done = run_bench(*FAST, "-k", "null", f"--benchmark-json={out}")
    assert done.returncode == 0, done.stdout[-2000:]
    state = json.loads(out.read_text())["run"]["machine_state"]
    assert state["busy"] is True and stranger in [p["pid"] for p in state["busiest"]]
    warning = next(line for line in done.stdout.splitlines() if line.startswith("statedict-bench: warning: busy"))
    assert warning.removeprefix("statedict-bench: warning: ") in state["warnings"]
    summary = subprocess.run([sys.executable, "-m", "bench.results.summary", str(out)], capture_output=True, text=True,
                             cwd=os.path.dirname(os.path.dirname(__file__)))
    assert f"warning: {state['warnings'][0]}" in summary.stdout
