"""Known torch bugs: the table matches cases before they run (api, op, type, options, device, world size, torch
version); a record is judged against its row's symptom; a reproduced bug is counted xfail, apart from failures, in
the summary and the comparison; and in whole runs a reproduced bug is pytest's xfail (exit 0) while a bug that no
longer reproduces is a strict XPASS that fails the run with a message saying a fix landed."""

import json
import os
import subprocess
import sys

import pytest

import tests.result_files as rf
from analysis.compare import compare_runs
from analysis.html_page import Page
from analysis.load import frame_of_file
from analysis.report_sections import run_summary
from bench.config.known_bugs import KNOWN_BUGS, KnownBug, bugs_of_case, judge, known_bugs
from bench.config.selection import BadInput
from bench.ops.matrix import Case
from bench.results.schema import counted_status
from bench.results.summary import failures, known_bug_lines
from tests.conftest import FAST, ROOT, bench_command

SEGFAULT = KNOWN_BUGS[0]  # pytorch #188989, the FSDP1 FULL_STATE_DICT offload_to_cpu SIGSEGV
SIGSEGV = "rank 1 died: SIGSEGV (exit code -11)"


def _offload_case(**changes):
    fields = {"api": "fsdp1", "op": "get_model", "state_dict_type": "full", "model": "dummy", "mesh_shape": (2,),
              "options": (("offload_to_cpu", True), ("rank0_only", False), ("use_mesh", True))} | changes
    return Case(**fields)


def test_the_first_row_is_the_fsdp1_offload_crash_observed_on_2_13_0():
    assert SEGFAULT.number == 188989 and SEGFAULT.issue == "https://github.com/pytorch/pytorch/issues/188989"
    assert (SEGFAULT.symptom, SEGFAULT.min_world_size, SEGFAULT.device) == ("crash", 2, "cpu")
    assert SEGFAULT.hits(_offload_case(), "cpu", "2.13.0+cpu")


@pytest.mark.parametrize("version, affected", [("2.13.0+cpu", True), ("2.13.0", True), ("2.14.0", True),
                                               ("2.14.1+cu130", False), ("2.15.0.dev20270101+cpu", False),
                                               ("2.12.1", False), ("not a version", False)])
def test_a_row_affects_only_the_torch_versions_of_its_range(version, affected):
    assert SEGFAULT.affects(version) is affected
    assert bool(bugs_of_case(KNOWN_BUGS, _offload_case(), "cpu", version)) is affected


@pytest.mark.parametrize("case, device", [
    (_offload_case(options=(("offload_to_cpu", False), ("rank0_only", False), ("use_mesh", True))), "cpu"),
    (_offload_case(options=(("rank0_only", False),)), "cpu"),  # the option absent
    (_offload_case(mesh_shape=(1,)), "cpu"),  # fewer ranks than the row's least world size
    (_offload_case(op="get_optim"), "cpu"),
    (_offload_case(state_dict_type="sharded"), "cpu"),
    (_offload_case(), "cuda"),
])
def test_a_case_that_differs_from_the_row_is_not_hit(case, device):
    assert bugs_of_case(KNOWN_BUGS, case, device, "2.13.0+cpu") == []


def test_larger_worlds_and_other_options_are_hit():
    for case in (_offload_case(mesh_shape=(4,)), _offload_case(mesh_shape=(2, 2)),
                 _offload_case(options=(("offload_to_cpu", True), ("rank0_only", True), ("use_mesh", False)))):
        assert bugs_of_case(KNOWN_BUGS, case, "cpu", "2.13.0+cpu") == [SEGFAULT]


def _record(status="error", message=SIGSEGV, **changes):
    return {"status": status, "message": message, "case_id": "fsdp1-get_model-full-x-mesh2", "rank_times_s": [],
            "round_times_s": []} | changes


@pytest.mark.parametrize("record, shown", [
    (_record(), True), (_record(message="rank 0 died: SIGABRT (exit code -6)"), False),  # a crash, not SIGSEGV
    (_record(message="rank 0 raised RuntimeError: SIGSEGV in the text"), False),  # raised, no rank died
    (_record(status="timeout", message="ranks [0, 1] did not finish within 5 s"), False), (_record("ok", ""), False)])
def test_a_crash_row_is_shown_only_by_a_rank_killed_by_its_signal(record, shown):
    assert SEGFAULT.shown_by(record) is shown


def _row(symptom, **changes):
    fields = {"number": 7, "summary": "s", "torch_versions": ">=2", "evidence": "e", "api": "fsdp1",
              "op": "get_model", "state_dict_type": "full", "device": "cpu", "symptom": symptom} | changes
    return KnownBug(**fields)


def test_error_and_growth_rows_are_judged_on_their_own_symptom():
    error = _row("error", message="setStorage: .* out of bounds")
    assert error.shown_by(_record(message="rank 0 raised RuntimeError: setStorage: size 8 out of bounds"))
    assert not error.shown_by(_record(message="rank 0 raised RuntimeError: something else"))
    assert _row("error").shown_by(_record("timeout", "ranks [0] did not finish within 5 s"))  # no pattern: any
    memory = _row("memory_growth", growth_at_least=2**20)
    assert memory.shown_by(_record("ok", "", rss_growth_per_save_bytes=[0, 3 * 2**20]))
    assert not memory.shown_by(_record("ok", "", rss_growth_per_save_bytes=[2**19, None]))
    time = _row("time_growth", growth_at_least=0.05)
    assert time.shown_by(_record("ok", "", round_times_s=[1.0, 1.1, 1.2, 1.3, 1.4]))  # +10% of 1.2 a round
    assert not time.shown_by(_record("ok", "", round_times_s=[1.0, 1.01, 0.99, 1.0, 1.0]))
    with pytest.raises(ValueError, match="symptom 'slow'"):
        _row("slow")
    with pytest.raises(ValueError, match="growth_at_least"):
        _row("memory_growth")


def test_the_record_says_whether_the_bug_reproduced_and_what_to_do():
    crashed, clean, other, skipped = (_record(), _record("ok", ""), _record(message="rank 0 raised ValueError: x"),
                                      _record("skipped", "needs 90 GiB"))
    for record in (crashed, clean, other, skipped):
        judge(record, [SEGFAULT], "2.13.0+cpu")
    assert crashed["known_bug"]["reproduced"] is True and crashed["message"] == SIGSEGV  # torch's message kept
    assert crashed["status"] == "error" and counted_status(crashed) == "xfail"
    assert clean["known_bug"]["reproduced"] is False and counted_status(clean) == "ok"
    assert clean["known_bug"]["note"] == (
        "known torch bug #188989 (https://github.com/pytorch/pytorch/issues/188989) no longer reproduces on torch "
        "2.13.0+cpu: a fix landed; update bench/config/known_bugs.py")
    assert other["known_bug"]["reproduced"] is False and counted_status(other) == "error"
    assert "this failure is not its symptom (crash matching 'SIGSEGV')" in other["known_bug"]["note"]
    assert skipped["known_bug"]["reproduced"] is None and counted_status(skipped) == "skipped"
    unmatched = _record()
    judge(unmatched, [], "2.13.0+cpu")
    assert "known_bug" not in unmatched and counted_status(unmatched) == "error"
    # a file from before `reproduced`: known_bug was set on failures only
    assert counted_status(_record(known_bug={"issue": SEGFAULT.issue, "summary": "s"})) == "xfail"


def test_the_summary_lists_reproduced_bugs_and_fixes_apart_from_failures():
    crashed, clean, other = _record(), _record("ok", ""), _record(message="rank 0 raised ValueError: x")
    for record in (crashed, clean, other):
        judge(record, [SEGFAULT], "2.13.0+cpu")
    cases = [crashed, dict(crashed), clean, other]
    assert failures(cases) == [f"{other['case_id']}: error: rank 0 raised ValueError: x ({other['known_bug']['note']})"]
    xfail, xpass = known_bug_lines(cases)
    assert xfail.startswith("xfail: 2 case(s): known torch bug #188989") and xfail.endswith(SIGSEGV)
    assert xpass.startswith("XPASS: ") and "no longer reproduces on torch 2.13.0+cpu: a fix landed" in xpass


def _run_of(status, tmp_path, name, hours):
    record = rf.record(rf.case_fields(0), [0.01] * 5 if status == "ok" else [], status=status,
                       message="" if status == "ok" else SIGSEGV)
    judge(record, [SEGFAULT], "2.13.0+cpu")
    return tmp_path / name, rf.result([record], started_at=rf.run_at(hours))


def test_a_comparison_counts_a_known_bug_as_known_and_its_fix_as_fixed(tmp_path):
    xfail, xfail2, ok = (_run_of("error", tmp_path, "a.json", 0), _run_of("error", tmp_path, "b.json", 1),
                         _run_of("ok", tmp_path, "c.json", 2))
    assert compare_runs([xfail], [xfail2]).cases["verdict"].tolist() == ["known failure"]
    fixed = compare_runs([xfail], [ok])
    assert fixed.cases["verdict"].tolist() == ["fixed"] and len(fixed.flagged_regressions) == 1
    assert fixed.cases[["base_status", "new_status"]].values.tolist() == [["xfail", "ok"]]


def test_the_reports_run_summary_shows_known_bugs_apart_from_failures(tmp_path):
    crashed = rf.record(rf.case_fields(0), [], status="error", message=SIGSEGV)
    judge(crashed, [SEGFAULT], "2.13.0+cpu")
    other = rf.record(rf.case_fields(1), [], status="error", message="rank 0 raised ValueError: x")
    data = rf.result([crashed, other, rf.record(rf.case_fields(2), [0.01] * 5)])
    page = Page(tmp_path, "t")
    run_summary(page, tmp_path / "run.json", data["run"], frame_of_file(tmp_path / "run.json", data))
    html = page.html()
    assert "<td>known torch bugs (xfail)</td><td>https://github.com/pytorch/pytorch/issues/188989: 1 cases</td>" in html
    assert "1 error, 1 ok, 1 xfail" in html
    failures_table = html.split('id="failures"')[1]
    assert other["case_id"] in failures_table and crashed["case_id"] not in failures_table


def test_a_bad_extra_rows_file_is_refused_in_one_line(tmp_path):
    path = tmp_path / "rows.json"
    assert known_bugs({}) == KNOWN_BUGS
    path.write_text(json.dumps([{"number": 1, "symptom": "crash"}]))
    with pytest.raises(BadInput, match=r"row 0: .*missing"):
        known_bugs({"STATEDICT_BENCH_KNOWN_BUGS": str(path)})
    path.write_text("{not json")
    with pytest.raises(BadInput, match="not a readable JSON file"):
        known_bugs({"STATEDICT_BENCH_KNOWN_BUGS": str(path)})


# Whole runs: rows for the null case's planted faults (bench/ops/faults.py), added through STATEDICT_BENCH_KNOWN_BUGS.
def _planted_row(number, options, symptom, message):
    return {"number": number, "summary": "planted", "torch_versions": ">=1", "evidence": "tests", "api": "null",
            "op": "noop", "state_dict_type": None, "options": options, "device": "cpu", "min_world_size": 2,
            "symptom": symptom, "message": message}


def _run_with_rows(tmp_path, rows, *args):
    rows_file = tmp_path / "rows.json"
    rows_file.write_text(json.dumps(rows))
    path = tmp_path / "run.json"
    done = subprocess.run(bench_command(*FAST, *args, f"--benchmark-json={path}"), cwd=ROOT, capture_output=True,
                          text=True, timeout=300, env=os.environ | {"STATEDICT_BENCH_KNOWN_BUGS": str(rows_file)})
    data = json.loads(path.read_text())
    records = {case["extra_info"]["case_id"]: case["extra_info"] for case in data["benchmarks"] + data["untimed_cases"]}
    return done, records, data["run"]


def test_a_reproduced_bug_is_xfailed_and_the_run_goes_on_and_passes(tmp_path):
    done, records, run = _run_with_rows(
        tmp_path, [_planted_row(1, {"fault": "segfault"}, "crash", "SIGSEGV"),
                   _planted_row(2, {"fault": "raise"}, "error", "injected fault")],
        "-k", "null or (fsdp2 and set_model and sharded)", "--fault", "segfault:0", "--fault", "raise:1")
    assert done.returncode == 0, done.stdout[-3000:]
    assert done.stdout.strip().splitlines()[-1].startswith("2 passed, ") and " 2 xfailed" in done.stdout
    crashed = records["null-noop-fault_segfault-fault_rank_0-mesh2"]
    assert (crashed["status"], crashed["message"]) == ("error", "rank 0 died: SIGSEGV (exit code -11)")
    assert crashed["known_bug"]["issue"].endswith("/1") and crashed["known_bug"]["reproduced"] is True
    assert records["null-noop-fault_raise-fault_rank_1-mesh2"]["known_bug"]["number"] == 2
    assert records["fsdp2-set_model-sharded-method_dsd-dummy-mesh2"]["status"] == "ok"  # after the crash
    assert run["status_counts"] == {"ok": 2, "xfail": 2} and run["world_starts"] == 3  # a restart after each


def test_a_bug_that_no_longer_reproduces_fails_the_run_saying_a_fix_landed(tmp_path):
    done, records, run = _run_with_rows(
        tmp_path, [_planted_row(3, {}, "crash", "SIGSEGV")], "-k", "null", "--fault", "exit:1")
    assert done.returncode == 1, done.stdout[-3000:]
    assert ("[XPASS(strict)] known torch bug #3 (https://github.com/pytorch/pytorch/issues/3) no longer reproduces "
            "on torch ") in done.stdout
    assert ": a fix landed; update bench/config/known_bugs.py" in done.stdout
    assert records["null-noop-mesh2"]["known_bug"]["reproduced"] is False
    exited = records["null-noop-fault_exit-fault_rank_1-mesh2"]  # hit by the row, but not its symptom: a failure
    assert exited["status"] == "error" and "is not its symptom (crash matching 'SIGSEGV')" in done.stdout
    assert done.stdout.strip().splitlines()[-1].startswith("2 failed")
    assert run["status_counts"] == {"ok": 1, "error": 1}


def test_the_doc_is_the_tables_output():
    done = subprocess.run([sys.executable, "scripts/known_bugs_table.py"], cwd=ROOT, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert b"## [#188989](https://github.com/pytorch/pytorch/issues/188989)" in done.stdout
    assert done.stdout == (ROOT / "docs" / "known-bugs.md").read_bytes(), \
        "docs/known-bugs.md is stale: run `python scripts/known_bugs_table.py > docs/known-bugs.md`"
