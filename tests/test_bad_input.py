"""Bad input: one line naming what is wrong, exit code 2, nothing written. The checks themselves are tested in
process; a few command lines check what a user sees."""

import json
import pickle
import shutil

import pytest

from bench.config.profiles import RoundSettings
from bench.results.schema import SCHEMA_VERSION
from bench.results.resume import load_previous
from bench.config.selection import BadInput, check_writable, select
from tests.conftest import FAST, run_bench

SETTINGS = {f: getattr(RoundSettings(), f) for f in RoundSettings.__dataclass_fields__}


@pytest.mark.parametrize("models,meshes,world_size,overrides,message", [
    (["gpt5"], [], None, {}, "unknown model 'gpt5'"),
    ([], ["3x"], None, {}, "mesh '3x' is not a shape like 4 or 2x2"),
    ([], ["0x2"], None, {}, "mesh '0x2' must be one or two positive sizes"),
    ([], ["2x2x2"], None, {}, "mesh '2x2x2' must be one or two positive sizes"),
    ([], ["3x2"], 4, {}, "mesh 3x2 has 6 ranks, not --world-size 4"),
    ([], [], 3, {}, "profile quick has no mesh of 3 ranks (1, 2, 4, 2x2)"),
    ([], [], 0, {}, "--world-size must be >= 1"),
    ([], [], None, {"min_rounds": -1}, "min_rounds must be >= 1, got -1"),
    ([], [], None, {"warmup_rounds": -1}, "warmup_rounds must be >= 0, got -1"),
    ([], [], None, {"max_rounds": -3}, "max_rounds (-3) must be >= min_rounds"),
    ([], [], None, {"case_timeout_s": -5.0}, "case_timeout_s > 0"),
])
def test_selection_refuses(models, meshes, world_size, overrides, message):
    with pytest.raises(BadInput, match=None) as refused:
        select("quick", models, meshes, world_size, overrides)
    assert message in str(refused.value) and "\n" not in str(refused.value)


def test_world_size_keeps_the_meshes_of_that_many_ranks():
    assert select("quick", [], [], 4, {}).meshes == [(4,), (2, 2)]
    assert select("quick", [], ["2x2"], 4, {}).meshes == [(2, 2)]


def _run_file(**run) -> str:
    return json.dumps({"run": {"schema_version": SCHEMA_VERSION, "profile": "quick", "settings": SETTINGS, **run},
                       "benchmarks": []})


@pytest.mark.parametrize("content,message", [
    (b"{not json", "not valid JSON"),
    (_run_file()[:40].encode(), "not valid JSON"),  # truncated
    (pickle.dumps({"run": {}}), "cannot read: 'utf-8' codec can't decode"),  # never unpickled
    (b'{"a": 1}', "not a statedict-bench result file"),
    (b'{"run": 5, "benchmarks": []}', "no 'run' object"),
    (b'{"run": {"schema_version": 1}, "benchmarks": [{"stats": {}}]}', "benchmark 0 is not a record"),
    (_run_file(schema_version=99).encode(), "schema_version 99 is not one this version of statedict-bench reads"),
    (_run_file(profile="nightly").encode(), "is a 'nightly' run; add --profile nightly"),
    (_run_file(settings={**SETTINGS, "min_rounds": 9}).encode(), "measured with other settings (min_rounds=9)"),
])
def test_resume_refuses_files_it_cannot_continue(tmp_path, content, message):
    path = tmp_path / "old.json"
    path.write_bytes(content)
    with pytest.raises(BadInput) as refused:
        load_previous(path, "quick", SETTINGS)
    assert message in str(refused.value) and "\n" not in str(refused.value)


def test_unwritable_results_path_is_refused_before_the_run(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    for path, message in [(blocker / "sub" / "x.json", "is not a folder"), (tmp_path, "is a folder")]:
        with pytest.raises(BadInput, match=message):
            check_writable(path)
    check_writable(tmp_path / "new" / "x.json")  # a folder that does not exist yet is made


def test_full_results_folder_is_refused_before_the_run(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(2**40, 2**40 - 2**20, 2**20))
    with pytest.raises(BadInput, match=r"results folder .* is full: 1.0 MiB free"):
        check_writable(tmp_path / "x.json")


@pytest.mark.parametrize("args,message", [
    (["--profile=fast"], "unknown profile 'fast'; choose from quick, nightly, full"),
    (["--world-size", "4"], "mesh 2 has 2 ranks, not --world-size 4"),  # FAST has --mesh 2
    (["--min-rounds", "-1"], "min_rounds must be >= 1"),
    (["--resume", "{bad}"], "cannot resume: {bad}: not valid JSON"),
    (["--benchmark-json={blocker}/x.json"], "is not a folder"),
    (["--checkpoint-dir={blocker}/ckpt"], "checkpoint folder {blocker}/ckpt is not writable"),
    (["--ceiling-mib", "4"], "--ceiling-mib must be at least 8, got 4"),
    (["--min-rounds", "abc"], "--min-rounds must be a whole number, got 'abc'"),  # not argparse's usage error
    (["--budget-s", "nan"], "--budget-s must be a number, got 'nan'"),
    (["--metric", "cycles"], "--metric: unknown metric 'cycles': choose one of wall, cpu, instructions"),
])
def test_bad_command_line_ends_with_one_line_exit_2_and_no_file(tmp_path, args, message):
    bad, blocker, out = tmp_path / "bad.json", tmp_path / "blocker", tmp_path / "out.json"
    bad.write_text('{"run": {')
    blocker.write_text("")
    args = [a.format(bad=bad, blocker=blocker) for a in args]
    json_arg = [] if any(a.startswith("--benchmark-json") for a in args) else [f"--benchmark-json={out}"]
    done = run_bench(*FAST, *args, *json_arg, timeout=120)
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    assert done.stdout == "" and done.stderr.count("\n") == 1
    assert done.stderr.startswith("statedict-bench: error: ")
    assert message.format(bad=bad, blocker=blocker) in done.stderr
    assert not out.exists() and bad.read_text() == '{"run": {'
