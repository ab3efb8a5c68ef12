"""The nightly job: baseline selection (the last N good runs), broken runs, exit codes, the stable name, the history
report, the summary."""

import json
import math
import re
import signal
import subprocess
import time
from datetime import timedelta

import numpy as np
import pytest

from analysis.cli import main
from analysis.nightly import BROKEN, OK, REGRESSION, nightly, pick_baseline
from tests.conftest import ROOT
from tests.result_files import T0, case_fields, noisy_rounds, record, result, write

NIGHTLY_ARGS = ["--", "--mesh", "1", "--model", "dummy", "-k", "null or (fsdp2 and get_model and sharded)",
                "--min-rounds", "8", "--max-rounds", "8", "--warmup-rounds", "0", "--budget-s", "0",
                "--ceiling-mib", "8"]
NAME = re.compile(r"^\d{8}T\d{6}Z_torch-[^_/]+_([0-9a-f]{7}|unknown)(_\d+)?\.json$")


def _run_file(tmp_path, name, hours, *, profile="nightly", complete=True, status="ok", median_s=0.010, seed=0,
              run_noise=0.0):
    """A run of 4 cases; `run_noise` (a log sd) moves each case's median of this run as fresh processes do."""
    rng = np.random.default_rng(seed)
    records = [record(case_fields(i), noisy_rounds(rng, median_s * math.exp(rng.normal(0.0, run_noise)), 20)
                      if status == "ok" else [], status=status)
               for i in range(4)]
    data = result(records, started_at=T0 + timedelta(hours=hours), complete=complete)
    data["run"]["profile"] = profile
    return write(tmp_path / name, data)


def _history(tmp_path, runs, *, median_s=0.010, prefix="h"):
    """`runs` earlier good runs an hour apart, each with its own run-level noise (5%): a nightly history."""
    return [_run_file(tmp_path, f"{prefix}{k:02d}.json", k, median_s=median_s, seed=100 + k, run_noise=0.05)
            for k in range(runs)]


def test_baseline_is_the_last_good_earlier_runs_of_the_same_profile(tmp_path):
    a = _run_file(tmp_path, "a.json", 0)
    b = _run_file(tmp_path, "b.json", 1)
    _run_file(tmp_path, "c.json", 2, complete=False)  # interrupted
    _run_file(tmp_path, "d.json", 3, status="error")  # every case failed
    _run_file(tmp_path, "e.json", 4, profile="quick")  # another profile's history
    (tmp_path / "f.json").write_text('{"truncated": ')
    new = _run_file(tmp_path, "g.json", 5)
    _run_file(tmp_path, "h.json", 6)  # later than the run judged: never its baseline
    run = json.loads(new.read_text())["run"]
    choice = pick_baseline(tmp_path, new, run)
    assert choice.paths == [a, b] and choice.newest == b  # oldest first; fewer good runs than N: all of them
    assert [data["run"]["started_at"] for _, data in choice.runs] == [str(T0.isoformat()),
                                                                       (T0 + timedelta(hours=1)).isoformat()]
    assert [line.split(":")[0] for line in choice.passed_over] == ["f.json", "d.json", "c.json"]
    assert "no case finished ok" in choice.passed_over[1] and "incomplete" in choice.passed_over[2]
    assert sorted(p.name for p in choice.history) == ["a.json", "b.json", "c.json", "d.json", "g.json", "h.json"]
    assert pick_baseline(tmp_path, new, run, 1).paths == [b]  # one run: the previous good one, as before


def test_baseline_is_the_newest_n_good_runs(tmp_path):
    good = [_run_file(tmp_path, f"r{k:02d}.json", k) for k in range(12)]
    _run_file(tmp_path, "broken.json", 8.5, complete=False)  # among the newest ten: passed over, said so
    _run_file(tmp_path, "quick.json", 9.5, profile="quick")  # another profile: not a candidate at all
    new = _run_file(tmp_path, "tonight.json", 20)
    choice = pick_baseline(tmp_path, new, json.loads(new.read_text())["run"], 10)
    assert choice.paths == good[2:]
    assert len(choice.passed_over) == 1 and choice.passed_over[0].startswith("broken.json: the run did not finish")
    assert "quick.json" not in {p.name for p in choice.history}
    code, lines = nightly(new, tmp_path, history_runs=10)
    assert code == OK
    assert ("  baseline:  10 earlier runs of profile nightly, 2026-01-01T02:00 .. 2026-01-01T11:00 "
            "(torch 2.13.0+cpu aaaaaaa)") in lines
    assert any(line.startswith("  passed over: broken.json:") for line in lines)
    saved = new.with_suffix(".compare.txt").read_text().splitlines()
    assert saved[:10] == [f"baseline: {p}" for p in good[2:]] and saved[10] == f"new: {new}"


def test_history_runs_must_be_one_or_more(tmp_path, capsys):
    new = _run_file(tmp_path, "a.json", 0)
    for bad in ("0", "-1", "abc", "1.5"):
        assert main(["nightly", str(new), "--history", str(tmp_path), "--history-runs", bad]) == 2
        err = capsys.readouterr().err
        assert err == f"error: --history-runs must be a whole number of 1 or more, not '{bad}'\n", err
    assert main(["nightly", str(new), "--history", str(tmp_path), "--history-runs", "3"]) == 0
    assert "baseline:  none" in capsys.readouterr().out


def test_baseline_option_takes_exactly_the_runs_it_names(tmp_path):
    _history(tmp_path / "box", 3)
    given = _history(tmp_path / "given", 4, prefix="g")
    new = _run_file(tmp_path / "box", "tonight.json", 20, seed=9)
    for baseline in (tmp_path / "given", tmp_path / "given" / "g0[123].json"):
        code, lines = nightly(new, tmp_path / "box", baseline=baseline)
        chosen = given if baseline.is_dir() else given[1:]
        assert any(line.startswith(f"  baseline:  {baseline} (given: {len(chosen)} runs, ") for line in lines), lines
        saved = new.with_suffix(".compare.txt").read_text()
        assert [line for line in saved.splitlines() if line.startswith("baseline: ")] == [
            f"baseline: {p}" for p in chosen]


def test_first_run_has_no_baseline_and_exits_0(tmp_path):
    new = _run_file(tmp_path, "a.json", 0)
    code, lines = nightly(new, tmp_path)
    assert code == OK
    assert any("baseline:  none" in line for line in lines) and lines[-1] == "  exit 0: nothing flagged"


def test_slower_run_exits_1_and_names_the_cases(tmp_path):
    history = _history(tmp_path, 6)  # six earlier nights, each case's median 5% apart from night to night
    new = _run_file(tmp_path, "tonight.json", 10, median_s=0.020, seed=1)  # twice as slow
    code, lines = nightly(new, tmp_path)
    assert code == REGRESSION
    assert ("  baseline:  6 earlier runs of profile nightly, 2026-01-01T00:00 .. 2026-01-01T05:00 "
            "(torch 2.13.0+cpu aaaaaaa)") in lines
    flagged = next(line for line in lines if line.startswith("  flagged:"))
    assert all(case_fields(i)["case_id"] in flagged for i in range(4))
    saved = new.with_suffix(".compare.txt").read_text()
    assert all(f"baseline: {p}" in saved for p in history) and "regression" in saved
    assert lines[-1] == "  exit 1: regression flagged"


def test_a_night_within_the_history_spread_is_not_flagged(tmp_path):
    _history(tmp_path, 6)
    new = _run_file(tmp_path, "tonight.json", 10, seed=7, run_noise=0.05)  # one more night like the others
    code, lines = nightly(new, tmp_path)
    assert code == OK and lines[-1] == "  exit 0: nothing flagged"
    assert not any(line.startswith("  flagged:") for line in lines)


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

    # The machine's name and the history's length from the environment. An older good run is in the folder too:
    # HISTORY_RUNS=1 leaves it out, so the previous run alone is the baseline.
    older = json.loads(path.read_text())
    older["run"]["started_at"] = "2000-01-01T00:00:00+00:00"
    (tmp_path / "box-1" / "19990101T000000Z_older.json").write_text(json.dumps(older))
    second = _nightly(tmp_path, *NIGHTLY_ARGS, env={"MACHINE": "box-1", "HISTORY_RUNS": "1"})
    assert second.returncode in (0, 1), second.stdout[-3000:] + second.stderr  # 1: two real runs may differ
    newer = max((tmp_path / "box-1").glob("2*.json"))
    assert newer != path
    summary = "\n".join(_summary(second.stdout))
    assert "baseline:  1 earlier run of profile nightly, " in summary and "compared:" in summary
    saved = newer.with_suffix(".compare.txt").read_text()
    assert f"baseline: {path}\nnew: {newer}" in saved and "19990101T000000Z_older" not in saved

    # A baseline of five runs ten times faster than this machine can be: the run is a regression, exit 1.
    fast_runs = tmp_path / "fast"
    fast_runs.mkdir()
    rng = np.random.default_rng(5)
    for k in range(5):
        fast = json.loads(path.read_text())
        for bench in fast["benchmarks"]:
            info = bench["extra_info"]
            scale = 10 * math.exp(rng.normal(0.0, 0.05))  # each run its own speed, as fresh processes have
            info["round_times_s"] = [t / scale for t in info["round_times_s"]]
            info["rank_times_s"] = [[t / scale for t in row] for row in info["rank_times_s"]]
        (fast_runs / f"fast{k}.json").write_text(json.dumps(fast))
    third = _nightly(tmp_path, "--machine", "box-1", "--baseline", str(fast_runs), *NIGHTLY_ARGS)
    assert third.returncode == 1, third.stdout[-3000:] + third.stderr
    lines = _summary(third.stdout)
    assert f"baseline:  {fast_runs} (given: 5 runs, " in "\n".join(lines)
    assert lines[-1] == "  exit 1: regression flagged" and "flagged:" in "\n".join(lines)


def test_nightly_bad_input_exits_2_and_leaves_no_file(tmp_path):
    missing = _nightly(tmp_path, *NIGHTLY_ARGS, env={"BASELINE": str(tmp_path / "nope.json")})
    assert missing.returncode == 2 and missing.stderr.strip() == \
        f"run_bench.sh: error: baseline {tmp_path / 'nope.json'}: no such file"
    for bad in (["--history-runs", "0"], ["--history-runs", "x"]):
        done = _nightly(tmp_path, "--machine", "m", *bad, *NIGHTLY_ARGS)
        assert done.returncode == 2 and done.stderr.strip() == \
            f"run_bench.sh: error: --history-runs must be a whole number of 1 or more, not '{bad[1]}'"
    env_bad = _nightly(tmp_path, "--machine", "m", *NIGHTLY_ARGS, env={"HISTORY_RUNS": "0"})
    assert env_bad.returncode == 2 and len(env_bad.stderr.strip().splitlines()) == 1
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
                             ("--history-runs N", "[env HISTORY_RUNS]"),
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
