"""Compare mode's sequential design on files of known truth: which cases settle after a pass, what the next pass
runs, how a later comparison of the folder honours the settled cases, and --only-cases as a user sees it."""

import json
import re
import subprocess
import sys

import numpy as np

from analysis.compare import CompareSettings, compare_runs
from analysis.load import load_runs
from analysis.render import render_comparison
from bench.compare.settle import CONTINUING_FILE, EARLY_ALPHA, decision_level, settle_after_pass
from tests import result_files as rf
from tests.conftest import ROOT, bench_command


def _folder(tmp_path, passes: int, slow_factor: float):
    """Passes of 3 cases: case 0 the same on both sides (tight rounds), case 1 slowed on B, case 2 wildly noisy."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "compare" / "run"
    for number in range(1, passes + 1):
        for side in ("a", "b"):
            records = []
            for i, (median, cv) in enumerate([(0.010, 0.002), (0.020, 0.002), (0.030, 0.5)]):
                factor = slow_factor if (i == 1 and side == "b") else 1.0
                level = median * factor * (np.exp(rng.normal(0, 0.5)) if i == 2 else 1.0)
                records.append(rf.record(rf.case_fields(i), rf.noisy_rounds(rng, level, 6, cv, 0.0)))
            rf.write(folder / f"pass{number:02d}" / f"{side}.json", rf.result(records))
    return folder


def _comparison(folder):
    base, new = (load_runs([str(folder / "pass[0-9][0-9]" / f"{side}.json")]) for side in ("a", "b"))
    return compare_runs(base, new, CompareSettings())


def _compare(folder):
    return _comparison(folder).cases.set_index("case")


def test_the_unchanged_case_settles_the_clear_change_is_decided_and_the_noisy_one_continues(tmp_path):
    folder = _folder(tmp_path, 3, 1.5)
    assert settle_after_pass(folder, 1, "wall", 0.05) == ([], "")  # no spread after one pass: nothing settles
    unchanged, slowed, noisy = (rf.case_fields(i)["case_id"] for i in range(3))
    continuing, line = settle_after_pass(folder, 2, "wall", 0.05)  # pass 2: settling only, no alpha set aside
    assert continuing == sorted([slowed, noisy]) and "1 more case(s) settled unchanged (1 in all), 0 decided" in line
    assert json.loads((folder / "settled.json").read_text())["early_alpha"] == 0.0
    continuing, line = settle_after_pass(folder, 3, "wall", 0.05)
    # the family has the 3 time tests (the memory peaks are equal in every pass: no test): the first look that may
    # decide spends half the early budget, at raw p < 0.01 x 1/2 / 3
    level = decision_level(3, 3)
    assert level == 0.01 / 2 / 3 and decision_level(2, 3) == 0.0 and decision_level(4, 3) == level / 2
    assert continuing == [noisy], line
    assert "0 more case(s) settled unchanged (1 in all), 1 decided early (1 in all, at p < 1.7e-03); 1 continue" in line
    assert json.loads((folder / CONTINUING_FILE).read_text()) == continuing
    settled = json.loads((folder / "settled.json").read_text())
    assert settled == {"metric": "wall", "cases": {unchanged: 2}, "decided": {slowed: 3}, "early_alpha": EARLY_ALPHA}
    comparison = _comparison(folder)
    cases = comparison.cases.set_index("case")
    assert cases.loc[unchanged, "time_verdict"] == "unchanged" and cases.loc[unchanged, "p_adj"] == 1.0
    assert cases.loc[unchanged, "why"] == "settled after pass 2: its interval lay inside ±5%"
    assert cases.loc[slowed, "time_verdict"] == "regression" and cases.loc[slowed, "why"] == "decided after pass 3"
    # the final correction is made at the alpha left after the early budget, and the summary says so
    assert comparison.settings.final_alpha == 0.05 - EARLY_ALPHA and comparison.summary["decided"] == 1
    text = render_comparison(comparison)
    assert "p < 0.04 over one family" in text and "0.01 of it spent on early decisions" in text
    assert "stopped early: 1 settled unchanged, 1 decided (flagged at an interim look)" in text


def test_a_case_with_no_change_is_never_decided(tmp_path):
    folder = _folder(tmp_path, 4, 1.0)  # the same on both sides: the tight case settles, nothing is decided
    for done in (2, 3):
        settle_after_pass(folder, done, "wall", 0.05)
    _, line = settle_after_pass(folder, 4, "wall", 0.05)
    assert json.loads((folder / "settled.json").read_text())["decided"] == {}
    assert "0 decided early (0 in all" in line


def test_a_settled_case_cannot_flag_and_another_metric_warns(tmp_path):
    folder = _folder(tmp_path, 3, 1.5)
    slowed = rf.case_fields(1)["case_id"]
    (folder / "settled.json").write_text(json.dumps({"metric": "wall", "cases": {slowed: 2}}))
    cases = _compare(folder)  # as if it had settled: its p enters Holm as 1
    assert cases.loc[slowed, "time_verdict"] == "unchanged" and cases.loc[slowed, "p_adj"] == 1.0
    (folder / "settled.json").write_text(json.dumps({"metric": "cpu", "cases": {slowed: 2}}))
    base, new = (load_runs([str(folder / "pass[0-9][0-9]" / f"{side}.json")]) for side in ("a", "b"))
    comparison = compare_runs(base, new, CompareSettings())
    assert comparison.cases.set_index("case").loc[slowed, "time_verdict"] == "regression"
    assert any("stopped early on cpu, not wall" in w for w in comparison.summary["comparability_warnings"])


def test_a_broken_settled_file_is_one_line(tmp_path):
    folder = _folder(tmp_path, 2, 1.0)
    (folder / "settled.json").write_text("{not json")
    done = subprocess.run([sys.executable, "-m", "analysis", "compare", str(folder / "pass0[12]" / "a.json"),
                           str(folder / "pass0[12]" / "b.json")], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "settled.json: not a list of settled cases" in done.stderr


def test_only_cases_keeps_the_named_cases_and_refuses_an_unknown_one(tmp_path):
    wanted = "fsdp2-get_optim-sharded-method_dsd-dummy-mesh1"
    ids = tmp_path / "ids.json"
    command = bench_command("--collect-only", "--mesh", "1", "--model", "dummy", "--only-cases", str(ids))
    ids.write_text(json.dumps([wanted]))
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0 and f"[{wanted}]" in done.stdout and re.search(r"\b1/\d+ tests collected", done.stdout)
    ids.write_text(json.dumps(["nope"]))
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 2 and "--only-cases names a case the selection does not hold: nope" in done.stdout
    ids.write_text('{"a": 1}')
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 2 and "must be a JSON list of case ids" in done.stderr
