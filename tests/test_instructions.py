"""Instructions mode (bench/metrics/instructions.py): callgrind's dumps read right, a machine without valgrind
refused in one line, and, where valgrind is installed, a rank under callgrind counting exactly the code between the
toggles."""

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from bench.metrics.instructions import read_dump_total
from tests.conftest import ROOT, bench_command


def test_the_newest_dump_of_the_process_is_read_and_the_dumps_removed(tmp_path):
    for number, total in ((1, 500), (2, 1234), (10, 777)):
        (tmp_path / f"callgrind.42.{number}").write_text(f"version: 1\ncmd: python\nevents: Ir\nsummary: {total}\n")
    (tmp_path / "callgrind.43.1").write_text("summary: 9\n")  # another process's
    assert read_dump_total(tmp_path, 42) == 777  # dump 10 is newer than dump 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["callgrind.43.1"]
    assert read_dump_total(tmp_path, 42) is None  # nothing dumped since


def test_without_valgrind_the_run_is_refused_in_one_line(tmp_path):
    env = {**os.environ, "PATH": str(tmp_path)}  # no valgrind on it
    done = subprocess.run(bench_command("--metric", "instructions", "--mesh", "1", "--model", "dummy",
                                        f"--benchmark-json={tmp_path / 'run.json'}"), cwd=ROOT, env=env,
                          capture_output=True, text=True, check=False, timeout=300)
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    assert done.stderr.strip().count("\n") == 0 and "needs valgrind" in done.stderr, done.stderr
    assert not (tmp_path / "run.json").exists()


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
def test_a_rank_under_callgrind_counts_the_loop_between_the_toggles_alone(tmp_path):
    script = textwrap.dedent(f"""
        import json, sys
        sys.path.insert(0, {str(ROOT)!r})
        from pathlib import Path
        from bench.metrics import instructions
        from bench.worlds.local import World
        instructions.enable(Path({str(tmp_path)!r}))
        world = World((1,))
        world.start()
        try:
            print(json.dumps(world.call("tests.rank_checks:counted_loops", timeout_s=1800,
                                        sizes=[1000, 1000, 2000, 1000])))
        finally:
            world.stop()
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=False,
                          timeout=1800)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    [counts] = json.loads(done.stdout.strip().splitlines()[-1])  # one rank
    first, again, double, third = counts
    assert first > 10_000  # a thousand interpreted iterations, not the toggles' few instructions
    for other in (again, third):  # the same loop counts the same, whatever ran before it
        assert abs(other - first) / first < 0.01, counts
    assert 1.8 < double / first < 2.2, counts  # twice the loop, about twice the count: nothing else is counted


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
def test_a_run_in_instructions_mode_records_every_rounds_count(tmp_path):
    """The pytest plugin's path as a user runs it: `--metric instructions` on the null case, every rank under
    callgrind, the record holding one instruction count per round and the run saying it was in this mode."""
    out = tmp_path / "run.json"
    done = subprocess.run(bench_command("--metric", "instructions", "--mesh", "1", "--model", "dummy", "-k", "null",
                                        f"--benchmark-json={out}"), cwd=ROOT, capture_output=True, text=True,
                          check=False, timeout=1800)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    data = json.loads(out.read_text())
    assert data["run"]["instructions_mode"] is True
    [record] = [b["extra_info"] for b in data["benchmarks"]]
    rounds = len(record["round_times_s"])
    assert rounds >= 1 and len(record["round_instructions"]) == rounds
    assert all(isinstance(n, (int, float)) and n > 0 for n in record["round_instructions"])
