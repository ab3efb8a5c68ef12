"""Loading result files into a frame, and refusing what is not one in one line (exit code 2 at the CLI)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from analysis.load import ResultFileError, load_frame
from tests import result_files as rf

ROOT = Path(__file__).resolve().parent.parent


def _run(tmp_path, name, hours, *, extra_record=None, **run_extra):
    rng = np.random.default_rng(int(hours))
    records = [rf.record(rf.case_fields(i), rf.noisy_rounds(rng, 0.01, 5), **(extra_record or {}))
               for i in range(3)]
    records.append(rf.record(rf.case_fields(3), [], status="unsupported", message="torch refuses"))
    return rf.write(tmp_path / name, rf.result(records, started_at=rf.run_at(hours), **run_extra))


def test_a_row_per_case_per_run_with_fields_and_round_samples(tmp_path):
    _run(tmp_path, "b.json", 2)
    _run(tmp_path, "a.json", 1)
    frame = load_frame(tmp_path)
    assert len(frame) == 8 and frame["run_file"].nunique() == 2
    # runs come in the order they started, not the order of their names
    assert list(frame["run_label"].drop_duplicates()) == ["a", "b"]
    row = frame[(frame["case"] == rf.case_fields(0)["case_id"]) & (frame["run_label"] == "a")].iloc[0]
    assert row["api"] == "fsdp1" and row["mesh"] == "2" and row["options_label"] == "variant=0"
    assert len(row["round_times_s"]) == 5 and row["median_s"] == pytest.approx(np.median(row["round_times_s"]))
    assert row["peak_rss_max_bytes"] == 50 * 2**20
    assert set(frame["status"]) == {"ok", "unsupported"}


def test_a_glob_and_unknown_future_fields_load(tmp_path):
    _run(tmp_path, "x1.json", 1, extra_record={"rss_growth_per_save_bytes": 123, "fraction_of_ceiling": 0.5},
         ceilings={"file_write_gbps": 1.5})
    _run(tmp_path, "y1.json", 2)
    frame = load_frame(str(tmp_path / "x*.json"))
    assert frame["run_label"].unique().tolist() == ["x1"]
    assert frame["rss_growth_per_save_bytes"].dropna().unique().tolist() == [123]


BAD_FILES = [
    ("empty.json", "", "not valid JSON"),
    ("truncated.json", None, "not valid JSON"),
    ("foreign.json", json.dumps({"benchmarks": [], "machine_info": {}}), "not a statedict-bench result file"),
    ("list.json", "[1, 2]", "not a statedict-bench result file"),
    ("future.json", json.dumps({"run": {"schema_version": 99}, "benchmarks": []}), "schema_version 99"),
    ("norecord.json", json.dumps({"run": {"schema_version": 1}, "benchmarks": [{"extra_info": {"api": "x"}}]}),
     "benchmark 0 lacks field(s) op, status"),
    ("badtimes.json", None, "round_times_s that are not finite"),
]


def _bad_file(tmp_path, name, content):
    if content is None:
        good = _run(tmp_path, "good.json", 1).read_text()
        if name == "truncated.json":
            content = good[: len(good) // 2]
        else:
            content = good.replace('"round_times_s": [', '"round_times_s": ["soon", ', 1)
    path = tmp_path / name
    path.write_text(content)
    return path


@pytest.mark.parametrize("name,content,reason", BAD_FILES)
def test_bad_files_are_refused_naming_the_file_and_reason(tmp_path, name, content, reason):
    path = _bad_file(tmp_path, name, content)
    with pytest.raises(ResultFileError) as caught:
        load_frame(path)
    assert str(path) in str(caught.value) and reason in str(caught.value)


@pytest.mark.parametrize("command", ["compare", "trend", "report"])
def test_cli_refuses_a_bad_file_in_one_line_with_exit_code_2(tmp_path, command):
    bad = _bad_file(tmp_path, "truncated.json", None)
    args = {"compare": [str(bad), str(bad)], "trend": [str(bad)],
            "report": [str(bad), "-o", str(tmp_path / "out")]}[command]
    done = subprocess.run([sys.executable, "-m", "analysis", command, *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and str(bad) in lines[0] and "not valid JSON" in lines[0], done.stderr


def test_missing_path_and_empty_folder_are_one_line_errors(tmp_path):
    with pytest.raises(ResultFileError, match="no such file"):
        load_frame(tmp_path / "nope.json")
    with pytest.raises(ResultFileError, match="holds no .json"):
        load_frame(tmp_path)


def test_analysis_never_imports_torch():
    code = ("import sys, analysis.cli, analysis.load, analysis.compare, analysis.trend, analysis.report; "
            "print('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "False", done.stderr


def test_the_schema_version_the_suite_writes_is_one_analysis_reads():
    from bench.results.schema import READABLE_SCHEMA_VERSIONS
    from bench.results.schema import SCHEMA_VERSION

    assert SCHEMA_VERSION in READABLE_SCHEMA_VERSIONS
