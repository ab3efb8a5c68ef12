"""The nightly job: baseline selection, broken runs, exit codes, the stable name, the history report, the summary."""

import json
import re
import signal
import subprocess
import time
from datetime import timedelta

import pytest

from analysis.nightly import BROKEN, OK, REGRESSION, nightly, pick_baseline
from tests.conftest import ROOT
from tests.result_files import T0, case_fields, noisy_rounds, record, result, write

NIGHTLY_ARGS = ["--", "--mesh", "1", "--model", "dummy", "-k", "null or (fsdp2 and get_model and sharded)",
                "--min-rounds", "8", "--max-rounds", "8", "--warmup-rounds", "0", "--budget-s", "0",
                "--ceiling-mib", "8"]
NAME = re.compile(r"^\d{8}T\d{6}Z_torch-[^_/]+_([0-9a-f]{7}|unknown)(_\d+)?\.json$")


def _run_file(tmp_path, name, hours, *, profile="nightly", complete=True, status="ok", median_s=0.010, seed=0):
    rng = __import__("numpy").random.default_rng(seed)
    records = [record(case_fields(i), noisy_rounds(rng, median_s, 20) if status == "ok" else [], status=status)
               for i in range(4)]
    data = result(records, started_at=T0 + timedelta(hours=hours), complete=complete)
    data["run"]["profile"] = profile
    return write(tmp_path / name, data)


def test_baseline_is_the_latest_earlier_successful_run_of_the_same_profile(tmp_path):
    _run_file(tmp_path, "a.json", 0)
    good = _run_file(tmp_path, "b.json", 1)
    _run_file(tmp_path, "c.json", 2, complete=False)  # interrupted
    _run_file(tmp_path, "d.json", 3, status="error")  # every case failed
    _run_file(tmp_path, "e.json", 4, profile="quick")  # another profile's history
    (tmp_path / "f.json").write_text('{"truncated": ')
    new = _run_file(tmp_path, "g.json", 5)
    _run_file(tmp_path, "h.json", 6)  # later than the run judged: never its baseline
    choice = pick_baseline(tmp_path, new, json.loads(new.read_text())["run"])
    assert choice.path == good
    assert [line.split(":")[0] for line in choice.passed_over] == ["f.json", "d.json", "c.json"]
    assert "no case finished ok" in choice.passed_over[1] and "incomplete" in choice.passed_over[2]
    assert sorted(p.name for p in choice.history) == ["a.json", "b.json", "c.json", "d.json", "g.json", "h.json"]


def test_first_run_has_no_baseline_and_exits_0(tmp_path):
    new = _run_file(tmp_path, "a.json", 0)
    code, lines = nightly(new, tmp_path)
    assert code == OK
    assert any("baseline:  none" in line for line in lines) and lines[-1] == "  exit 0: nothing flagged"


def test_slower_run_exits_1_and_names_the_cases(tmp_path):
    base = _run_file(tmp_path, "a.json", 0, median_s=0.010)
    new = _run_file(tmp_path, "b.json", 1, median_s=0.013, seed=1)  # 30% slower, CV 5%, 20 rounds a side
    code, lines = nightly(new, tmp_path)
    assert code == REGRESSION
    assert any(line.startswith(f"  baseline:  {base}") for line in lines)
    flagged = next(line for line in lines if line.startswith("  flagged:"))
    assert all(case_fields(i)["case_id"] in flagged for i in range(4))
    saved = new.with_suffix(".compare.txt").read_text()
    assert f"baseline: {base}" in saved and "regression" in saved
    assert lines[-1] == "  exit 1: regression flagged"


def test_memory_growth_one_run_a_side_is_listed_not_flagged(tmp_path):
    """Each rank's peak in one run is one sample: too few to test, so growth is shown as a list, not a verdict."""
    _run_file(tmp_path, "a.json", 0)
    data = json.loads(_run_file(tmp_path, "b.json", 1, seed=3).read_text())
    data["benchmarks"][0]["extra_info"]["peak_rss_bytes"] = [90 * 2**20] * 2  # 50 MiB before
    new = write(tmp_path / "b.json", data)
    code, lines = nightly(new, tmp_path)
    memory = next(line for line in lines if line.startswith("  memory:"))
    assert case_fields(0)["case_id"] in memory and case_fields(1)["case_id"] not in memory
    assert code == OK and "  machine:   not recorded" in lines  # generated files carry no machine state


def test_broken_run_exits_2_without_comparing(tmp_path):
    _run_file(tmp_path, "a.json", 0)
    new = _run_file(tmp_path, "b.json", 1, complete=False)
    code, lines = nightly(new, tmp_path, report_dir=tmp_path / "report")
    assert code == BROKEN and not (tmp_path / "report").exists()
    assert any(line.startswith("  BROKEN:    the run did not finish") for line in lines)
    code, lines = nightly(_run_file(tmp_path, "c.json", 2), tmp_path, pytest_status=3)
    assert code == BROKEN and any("pytest exited with code 3" in line for line in lines)


def _nightly(tmp_path, *args, env=None, timeout=300):
    import os

    return subprocess.run(["./run_bench.sh", "nightly", "--results-dir", str(tmp_path), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})


def _summary(stdout: str) -> list[str]:
    return stdout[stdout.index("nightly summary"):].splitlines()


def test_nightly_names_the_run_compares_with_the_previous_one_and_reports(tmp_path):
    first = _nightly(tmp_path, "--machine", "box-1", *NIGHTLY_ARGS)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr
    [path] = (tmp_path / "box-1").glob("*.json")
    assert NAME.match(path.name), path.name
    data = json.loads(path.read_text())
    torch = data["run"]["torch"]
    assert path.name.split("_")[1] == f"torch-{torch['version']}"
    summary = _summary(first.stdout)
    assert "baseline:  none" in "\n".join(summary) and summary[-1] == "  exit 0: nothing flagged"
    assert (tmp_path / "box-1" / "report" / "report.html").is_file()

    # The machine's name from the environment; the previous run found as the baseline.
    second = _nightly(tmp_path, *NIGHTLY_ARGS, env={"MACHINE": "box-1"})
    assert second.returncode in (0, 1), second.stdout[-3000:] + second.stderr  # 1: two real runs may differ
    newer = max((tmp_path / "box-1").glob("*.json"))
    assert newer != path
    summary = "\n".join(_summary(second.stdout))
    assert f"baseline:  {path}" in summary and "compared:" in summary
    assert newer.with_suffix(".compare.txt").is_file()

    # A baseline ten times faster than this machine can be: the run is a regression, exit 1.
    fast = json.loads(path.read_text())
    for bench in fast["benchmarks"]:
        info = bench["extra_info"]
        info["round_times_s"] = [t / 10 for t in info["round_times_s"]]
        info["rank_times_s"] = [[t / 10 for t in row] for row in info["rank_times_s"]]
    baseline = tmp_path / "fast.json"
    baseline.write_text(json.dumps(fast))
    third = _nightly(tmp_path, "--machine", "box-1", "--baseline", str(baseline), *NIGHTLY_ARGS)
    assert third.returncode == 1, third.stdout[-3000:] + third.stderr
    lines = _summary(third.stdout)
    assert f"baseline:  {baseline}" in "\n".join(lines) and lines[-1] == "  exit 1: regression flagged"
    assert "flagged:" in "\n".join(lines)


def test_nightly_bad_input_exits_2_and_leaves_no_file(tmp_path):
    missing = _nightly(tmp_path, *NIGHTLY_ARGS, env={"BASELINE": str(tmp_path / "nope.json")})
    assert missing.returncode == 2 and missing.stderr.strip() == \
        f"run_bench.sh: error: baseline {tmp_path / 'nope.json'}: no such file"
    bad_name = _nightly(tmp_path, "--machine", "a/b", *NIGHTLY_ARGS)
    assert bad_name.returncode == 2 and "machine name 'a/b'" in bad_name.stderr
    bad_option = _nightly(tmp_path, "--machine", "m", "--", "--min-rounds", "abc")
    assert bad_option.returncode == 2
    assert "statedict-bench: error: --min-rounds must be a whole number" in bad_option.stdout + bad_option.stderr
    assert not list(tmp_path.rglob("*.json"))


def test_interrupted_nightly_is_broken_exit_2(tmp_path):
    run = subprocess.Popen(["./run_bench.sh", "nightly", "--results-dir", str(tmp_path), "--machine", "m", "--",
                            "--mesh", "1", "--model", "dummy", "-k", "null", "--min-rounds", "2", "--max-rounds",
                            "2", "--warmup-rounds", "0", "--budget-s", "0", "--ceiling-mib", "8",
                            "--fault", "hang:0", "--case-timeout-s", "600"],
                           cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and not [
                p for p in (tmp_path / "m").glob("*.json") if p.stat().st_size]:
            time.sleep(0.2)  # the null case is written; the hanging case runs
        time.sleep(1.0)
        run.send_signal(signal.SIGTERM)
        stdout, stderr = run.communicate(timeout=120)
    finally:
        run.kill()
    assert run.returncode == 2, stdout[-2000:] + stderr
    lines = _summary(stdout)
    assert any(line.startswith("  BROKEN:    the run did not finish") for line in lines)
    assert lines[-1] == "  exit 2: broken run"


def test_help_lists_the_nightly_options_and_their_variables():
    done = subprocess.run(["./run_bench.sh", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    for option, variable in (("--baseline FILE", "[env BASELINE]"), ("--machine NAME", "[env MACHINE]"),
                             ("--results-dir DIR", "[env RESULTS_DIR]"), ("--python PY", "[env PYTHON]")):
        assert option in done.stdout and variable in done.stdout, option
    assert "nightly" in done.stdout and "-- ARGS" in done.stdout


@pytest.mark.parametrize("fields", [{"cores": 16}, {"hostname": "otherbox"}])
def test_nightly_warns_when_the_baseline_is_not_comparable(tmp_path, fields):
    base = _run_file(tmp_path, "a.json", 0)
    data = json.loads(base.read_text())
    data["run"]["machine"].update(fields)
    base.write_text(json.dumps(data))
    code, lines = nightly(_run_file(tmp_path, "b.json", 1, seed=2), tmp_path)
    name = {"cores": "cores", "hostname": "machine"}[next(iter(fields))]
    assert any(line.startswith(f"  warning:   runs not comparable: {name} differs") for line in lines), lines
