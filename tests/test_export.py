"""`python -m analysis export`: each format's content on synthetic runs of known values, compare folders, and bad
input (one line, exit 2, nothing written)."""

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pandas as pd
import pytest

from analysis.cli import main
from tests import result_files as rf

ROOT = Path(__file__).resolve().parent.parent
V3_SCHEMA = json.loads((ROOT / "tests" / "schemas" / "oss_ci_benchmark_v3.schema.json").read_text())
MIB = 2**20
ROUNDS_S = [0.002, 0.001, 0.010, 0.004, 0.003]
"""Known truth: in ms, the median is 3 and the quartiles (linear) 2 and 4, so half the IQR is 1."""
CPU_S = [0.0005, 0.0007, 0.0006, 0.0009, 0.0008]


def _records(wall_s=ROUNDS_S):
    measured = rf.record(rf.case_fields(0), wall_s, peak_rss_bytes=[50 * MIB, 70 * MIB], round_cpu_s=CPU_S)
    refused = rf.record(rf.case_fields(1), [], status="unsupported", message="torch refuses this combination")
    broken = rf.record(rf.case_fields(2), [], status="error", message="rank 1: SIGSEGV")
    return [measured, refused, broken]


def _export(capsys, *args):
    code = main(["export", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def _write_run(path, wall_s=ROUNDS_S, hours=0.0, **run):
    return rf.write(path, rf.result(_records(wall_s), started_at=rf.run_at(hours), **run))


def test_pytorch_v3_records_hold_the_rounds_memory_machine_and_torch(tmp_path, capsys):
    run = _write_run(tmp_path / "run.json")
    code, out, err = _export(capsys, run, "--format", "pytorch-v3", "-o", tmp_path / "v3.json")
    assert code == 0 and "pytorch-v3: 3 records in" in out
    assert err.strip() == ("pytorch-v3: skipped 2 of 3 cases (a case per run) without a measurement: error 1, "
                           "unsupported 1")
    records = json.loads((tmp_path / "v3.json").read_text())
    validator = jsonschema.Draft202012Validator(V3_SCHEMA)
    assert [list(validator.iter_errors(r)) for r in records] == [[], [], []]
    by_metric = {r["metric"]["name"]: r for r in records}
    assert set(by_metric) == {"wall_time_ms", "cpu_time_ms", "peak_rss_mib"}
    assert by_metric["wall_time_ms"]["metric"]["benchmark_values"] == pytest.approx([2, 1, 10, 4, 3])
    assert by_metric["cpu_time_ms"]["metric"]["benchmark_values"] == pytest.approx([0.5, 0.7, 0.6, 0.9, 0.8])
    memory = by_metric["peak_rss_mib"]["metric"]
    assert memory["benchmark_values"] == [70.0] and json.loads(memory["extra_info"]["per_rank"]) == [50.0, 70.0]
    wall = by_metric["wall_time_ms"]
    case = rf.case_fields(0)
    assert wall["benchmark"]["name"] == "statedict-bench" and wall["benchmark"]["dtype"] == "float32"
    assert wall["benchmark"]["extra_info"]["case_id"] == case["case_id"]
    assert wall["benchmark"]["extra_info"]["mesh"] == "2" and wall["benchmark"]["extra_info"]["op"] == case["op"]
    assert (wall["model"]["name"], wall["model"]["backend"]) == ("mlp_1m", case["api"])
    assert wall["dependencies"]["pytorch"] == {"repo": "pytorch/pytorch", "branch": "", "sha": "a" * 40,
                                               "version": "2.13.0+cpu", "extra_info": {"python": "3.11"}}
    assert wall["runners"] == [{"name": "cpu", "type": "Test CPU", "cpu_info": "Test CPU", "cpu_count": 2,
                                "avail_mem_in_gb": 8, "gpu_info": "", "gpu_count": 0,
                                "extra_info": {"hostname": "testbox"}}]


def test_the_v3_schema_refuses_what_the_table_would_not_store_as_given():
    good = {"benchmark": {"name": "b"}, "model": {"name": "m"}, "metric": {"name": "x", "benchmark_values": [1.0]}}
    validator = jsonschema.Draft202012Validator(V3_SCHEMA)
    assert not list(validator.iter_errors(good))
    for bad in ({**good, "benchmark": {"name": "b", "extra_info": {"flag": True}}},  # a Map's value is a string
                {**good, "metric": {"name": "x", "benchmark_values": []}},
                {**good, "runners": [{"cpu_count": -1}]},
                {**good, "model": {"name": "m", "family": "mlp"}}):  # no such field in the table
        assert list(validator.iter_errors(bad))


def test_github_action_benchmark_entry_is_the_median_with_half_the_iqr(tmp_path, capsys):
    code, out, err = _export(capsys, _write_run(tmp_path / "run.json"), "--format", "github-action-benchmark",
                             "-o", tmp_path / "gab.json")
    assert code == 0 and "skipped 2 of 3 cases" in err
    entries = {e["name"]: e for e in json.loads((tmp_path / "gab.json").read_text())}
    case_id = rf.case_fields(0)["case_id"]
    wall = entries[f"{case_id} · wall_time_ms"]
    assert (wall["unit"], wall["value"], wall["range"]) == ("ms", pytest.approx(3.0), "± 1")
    assert wall["extra"].startswith("median of 5 rounds, range ± half their interquartile range")
    memory = entries[f"{case_id} · peak_rss_mib"]
    assert memory["value"] == 70.0 and "range" not in memory and memory["extra"].startswith("one measurement")
    assert set(entries) == {f"{case_id} · {m}" for m in ("wall_time_ms", "cpu_time_ms", "peak_rss_mib")}


def test_github_action_benchmark_range_is_the_records_own_iqr_where_it_has_one(tmp_path, capsys):
    records = _records()
    records[0]["stats"]["iqr_s"] = 0.0016  # pytest-benchmark's quartiles, which the summary table shows
    run = rf.write(tmp_path / "run.json", rf.result(records))
    _export(capsys, run, "--format", "github-action-benchmark", "-o", tmp_path / "gab.json")
    entries = {e["name"]: e for e in json.loads((tmp_path / "gab.json").read_text())}
    assert entries[f"{rf.case_fields(0)['case_id']} · wall_time_ms"]["range"] == "± 0.8"


def test_github_action_benchmark_pools_runs_of_one_build_by_their_medians(tmp_path, capsys):
    for hours, scale in enumerate((1.0, 5 / 3, 4 / 3)):  # run medians 3, 5 and 4 ms
        _write_run(tmp_path / "runs" / f"run{hours}.json", [t * scale for t in ROUNDS_S], hours)
    _export(capsys, tmp_path / "runs", "--format", "github-action-benchmark", "-o", tmp_path / "gab.json")
    entries = {e["name"]: e for e in json.loads((tmp_path / "gab.json").read_text())}
    wall = entries[f"{rf.case_fields(0)['case_id']} · wall_time_ms"]
    assert wall["value"] == pytest.approx(4.0) and wall["range"] == "± 0.5"  # quartiles 3.5 and 4.5
    assert wall["extra"].startswith("median of the medians of 3 runs")
    single = _export(capsys, tmp_path / "runs" / "run2.json", "--format", "github-action-benchmark",
                     "-o", tmp_path / "one.json")
    assert single[0] == 0 and set(entries) == {e["name"] for e in json.loads((tmp_path / "one.json").read_text())}


def _compare_folder(root, label_b_torch="2.13.0+cpu"):
    """A compare folder as compare mode leaves it: two passes of a and b (and the log of their turns), an incomplete
    third, its settled.json."""
    folder = root / "compare" / "20260101T000000Z_A_vs_B_x"
    for number in (1, 2, 3):
        for side, torch in (("a", "2.13.0+cpu"), ("b", label_b_torch)):
            rf.write(folder / (f"pass{number:02d}" if number < 3 else "pass03-incomplete") / f"{side}.json",
                     rf.result(_records(), started_at=rf.run_at(number), torch_version=torch,
                               interleaved={"side": side, "block_rounds": 3}))
    (folder / "settled.json").write_text(json.dumps({"metric": "wall", "cases": {}}))
    (folder / "pass01" / "turns.json").write_text(json.dumps([{"side": "a", "case": "x"}]))  # the pacing's log
    return folder


def test_a_compare_folder_exports_its_complete_passes_with_their_pass_and_side(tmp_path, capsys):
    folder = _compare_folder(tmp_path)
    code, out, _ = _export(capsys, folder, "--format", "csv", "-o", tmp_path / "cmp.csv")
    assert code == 0 and "csv: 12 rows" in out  # 2 complete passes x 2 sides x 3 cases; pass03-incomplete left out
    frame = pd.read_csv(tmp_path / "cmp.csv")
    assert sorted(set(zip(frame["compare_pass"], frame["compare_side"]))) == [
        ("pass01", "a"), ("pass01", "b"), ("pass02", "a"), ("pass02", "b")]
    code, _, err = _export(capsys, folder, "--format", "github-action-benchmark", "-o", tmp_path / "gab.json")
    names = [e["name"] for e in json.loads((tmp_path / "gab.json").read_text())]
    case_id = rf.case_fields(0)["case_id"]
    assert f"{case_id} · wall_time_ms [side a, torch 2.13.0+cpu@aaaaaaa]" in names and len(names) == 6
    assert "the runs hold 2 builds or sides" in err and "skipped 8 of 12 cases" in err
    code, _, _ = _export(capsys, folder, "--format", "pytorch-v3", "-o", tmp_path / "v3.json")
    records = json.loads((tmp_path / "v3.json").read_text())
    assert code == 0 and len(records) == 4 * 3  # a record per run (4) and metric (3) of the measured case
    assert {(r["metric"]["extra_info"]["compare_pass"], r["metric"]["extra_info"]["compare_side"])
            for r in records} == {("pass01", "a"), ("pass01", "b"), ("pass02", "a"), ("pass02", "b")}


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_tidy_formats_keep_every_case_with_its_status_and_its_rounds(tmp_path, capsys, fmt):
    out = tmp_path / f"runs.{fmt}"
    code, said, err = _export(capsys, _write_run(tmp_path / "run.json"), "--format", fmt, "-o", out)
    assert code == 0 and f"{fmt}: 3 rows" in said and not err
    frame = pd.read_csv(out) if fmt == "csv" else pd.read_parquet(out)
    assert list(frame.columns[:5]) == ["case", "run_label", "compare_pass", "compare_side", "status"]
    rows = frame.set_index("status")
    assert rows.loc["ok", "median_s"] == pytest.approx(0.003)
    assert json.loads(rows.loc["ok", "round_times_s"]) == ROUNDS_S
    assert rows.loc["unsupported", "message"] == "torch refuses this combination"
    assert rows.loc["error", "message"] == "rank 1: SIGSEGV" and json.loads(rows.loc["error", "round_times_s"]) == []


CSV = ["--format", "csv", "-o", "{tmp}/out.csv"]


@pytest.mark.parametrize("args,message", [
    (CSV, "name at least one result file"),
    (["{tmp}/empty", *CSV], "folder holds no .json result files"),
    (["{tmp}/missing/*.json", *CSV], "pattern matches no file"),
    (["{tmp}/not_result.json", *CSV], "not a statedict-bench result file"),
    (["{run}", "--format", "xlsx", "-o", "{tmp}/x"], "unknown export format 'xlsx': choose one of pytorch-v3, "),
    (["{run}", "-o", "{tmp}/x.json"], "no export format (--format)"),
    (["{run}", "--format", "csv"], "name the output file: -o OUT"),
    (["{run}", "--format", "csv", "-o", "{run}/x.csv"], "cannot write"),  # a file where a folder must be
    (["{run}", "--format", "csv", "-o", "{tmp}"], "cannot write"),  # a folder where the file must be
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, args, message):
    (tmp_path / "empty").mkdir()
    (tmp_path / "not_result.json").write_text('{"benchmarks": "no"}')
    run = _write_run(tmp_path / "run.json")
    before = sorted(tmp_path.rglob("*"))
    code, _, err = _export(capsys, *[a.format(tmp=tmp_path, run=run) for a in args])
    assert code == 2 and message in err and err.count("\n") == 1 and err.startswith("error: "), err
    assert sorted(tmp_path.rglob("*")) == before  # nothing written


def test_the_command_line_says_bad_input_in_one_line(tmp_path):
    done = subprocess.run([sys.executable, "-m", "analysis", "export", str(tmp_path / "none.json"), "--format",
                           "csv", "-o", str(tmp_path / "x.csv")], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2 and done.stderr == f"error: {tmp_path / 'none.json'}: no such file\n"
