"""The benchmark as a user runs it: `python -m pytest bench/ ...`, its result file, the summary, bad input."""

import json
import subprocess
import sys

import pytest

from bench.results.schema import RECORD_FIELDS, RUN_FIELDS, SCHEMA_VERSION, WRITTEN_FIELDS
from tests.conftest import FAST, ROOT, process_running
from tests.conftest import run_bench as _bench


@pytest.fixture(scope="module")
def run_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("results") / "run.json"
    done = _bench(*FAST, "-k", "null or (fsdp2 and set_model and sharded) or (local and use_mesh_1)",
                  f"--benchmark-json={path}")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return path


def test_result_file_has_run_info_and_complete_records(run_file):
    data = json.loads(run_file.read_text())
    run = data["run"]
    assert run["schema_version"] == SCHEMA_VERSION and run["profile"] == "quick"
    assert run["torch"]["version"] and run["machine"]["cores"] >= 1 and run["duration_s"] > 0
    assert run["world_starts"] == 1 and run["status_counts"] == {"ok": 2, "unsupported": 1}
    assert {"commit", "dirty"} <= set(run["suite"]) and run["started_at"]
    assert len(run["rank_pids"]) == 2 and not [pid for pid in run["rank_pids"] if process_running(pid)]
    assert run["complete"] is True
    # the schema describes every field the suite wrote, of the run and of every record (timed or not)
    assert not set(run) - set(RUN_FIELDS)
    for record in [b["extra_info"] for b in data["benchmarks"]] + [c["extra_info"] for c in data["untimed_cases"]]:
        assert not set(record) - set(RECORD_FIELDS), record["case_id"]
    timed = {b["extra_info"]["api"]: b for b in data["benchmarks"]}
    assert set(timed) == {"null", "fsdp2"}
    for bench in data["benchmarks"]:
        record = bench["extra_info"]
        assert set(WRITTEN_FIELDS) <= set(record)
        assert len(record["rank_times_s"]) == 3 and all(len(row) == 2 for row in record["rank_times_s"])
        # pytest-benchmark's statistics are the ranks' own round times, replayed
        assert bench["stats"]["data"] == pytest.approx(record["round_times_s"])
        assert bench["stats"]["median"] == pytest.approx(record["stats"]["median_s"])
        # CPU time for every rank and round, reduced per round as wall time is (the slowest rank)
        assert [len(row) for row in record["rank_cpu_s"]] == [2, 2, 2]
        assert all(v >= 0 for row in record["rank_cpu_s"] for v in row)
        assert record["round_cpu_s"] == [max(row) for row in record["rank_cpu_s"]]
        assert record["cpu_stats"]["rounds"] == 3
        assert all(len(rows) == 3 for rows in record["io_bytes"].values()) and record["io_bytes"]
        spans = {"setup", "rounds", "timed", "memory_round", "checks"}
        assert all(set(rank_spans) >= spans for rank_spans in record["spans_s"])
    assert timed["fsdp2"]["extra_info"]["correct"] is True
    assert timed["null"]["extra_info"]["correct"] is None
    untimed = data["untimed_cases"]
    assert [u["extra_info"]["status"] for u in untimed] == ["unsupported"]
    assert "LOCAL_STATE_DICT" in untimed[0]["extra_info"]["message"]


def test_the_wall_time_table_adds_up_to_the_run(run_file):
    data = json.loads(run_file.read_text())
    table = data["run"]["wall_time"]
    parts = table["parts_s"]
    assert all(seconds >= 0 for seconds in parts.values())
    assert sum(parts.values()) + table["unexplained_s"] == pytest.approx(table["wall_s"])
    # the timed part is exactly the measured rounds of the slowest rank, as the records hold them
    timed = sum(sum(b["extra_info"]["round_times_s"]) for b in data["benchmarks"])
    assert parts["timed"] == pytest.approx(timed, rel=1e-6)
    assert parts["world_starts"] == pytest.approx(data["run"]["world_start_s"])
    assert parts["startup"] > 0 and parts["setup"] > 0 and parts["writing_results"] > 0
    assert table["wall_s"] >= data["run"]["duration_s"]  # the process began before the session
    noise = data["run"]["noise_during"]  # the machine's state over the run, from /proc/stat
    assert 0 <= noise["steal_fraction"] <= 1 and 0 <= noise["idle_fraction"] <= 1 and noise["load_average_end"]


def test_summary_prints_a_row_per_case_and_the_path(run_file):
    done = subprocess.run([sys.executable, "-m", "bench.results.summary", str(run_file)], cwd=ROOT, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split()[:3] == ["api", "op", "type"]
    assert sum(1 for line in lines if line.startswith(("null ", "fsdp2 ", "fsdp1 "))) == 3
    assert any("unsupported" in line for line in lines)
    assert lines[-1] == f"results: {run_file}"


@pytest.mark.parametrize("content,reason", [("{not json", "not valid JSON"), ('{"a": 1}', "not a statedict-bench"),
                                            ('{"run": {"schema_version": 99}, "benchmarks": []}', "schema_version 99")])
def test_summary_refuses_bad_files_in_one_line(tmp_path, content, reason):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    done = subprocess.run([sys.executable, "-m", "bench.results.summary", str(bad)], cwd=ROOT, capture_output=True,
                          text=True)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and reason in done.stderr


def test_selection_that_matches_nothing_says_so(tmp_path):
    done = _bench(*FAST, "-k", "no_such_case", f"--benchmark-json={tmp_path / 'x.json'}", timeout=120)
    assert done.returncode == 5
    assert "no case of profile 'quick' matches the selection -k 'no_such_case'" in done.stdout


def test_only_untimed_cases_still_write_the_file(tmp_path):
    path = tmp_path / "untimed.json"
    done = _bench(*FAST, "-k", "local and use_mesh_1", f"--benchmark-json={path}")
    assert done.returncode == 0, done.stdout[-2000:]
    data = json.loads(path.read_text())
    assert data["benchmarks"] == []
    assert [u["extra_info"]["status"] for u in data["untimed_cases"]] == ["unsupported"]


def test_pytest_benchmark_autosave_compare_and_group_by(tmp_path):
    storage = f"--benchmark-storage=file://{tmp_path}"
    first = _bench(*FAST, "-k", "null", "--benchmark-autosave", storage)
    assert first.returncode == 0, first.stdout[-2000:]
    second = _bench(*FAST, "-k", "null", "--benchmark-compare", storage, "--benchmark-group-by=param:api")
    assert second.returncode == 0, second.stdout[-2000:]
    assert "0001" in second.stdout  # the autosaved run is in the comparison table
    assert "benchmark \"api=null\"" in second.stdout or "api=null" in second.stdout
