"""The pytest plugin's hooks and fixtures: the case matrix as parameters, the run's session, the result file (its
options: bench/plugin/options.py). bench/conftest.py imports them, which is how pytest finds them.

`python -m pytest bench/ --profile=quick --benchmark-json=FILE [-k EXPR] [--resume FILE]`.
"""

from __future__ import annotations

import contextlib
import functools
import shutil
import signal
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

import pytest

from bench.metrics import instructions
from bench.run.progress import Progress, ProgressDisplay
from bench.run.terminal import make_display
from bench.plugin.options import check_metric, check_ranges, convert_numbers, round_overrides
from bench.worlds.external_pool import launched_meshes
from bench.config.fault_cases import parse_faults, with_faults
from bench.config.gpu_profile import limit_cases
from bench.config.known_bugs import known_bugs
from bench.machine.gpus import cuda_device_count
from bench.ops.matrix import expand, simulated_cases, with_dtypes
from bench.ops.simulations import scale_cases
from bench.machine.placement import set_placement
from bench.plugin.result_writer import ResultWriter
from bench.results.files import target_path
from bench.config.only_cases import read_case_ids, unknown_ids
from bench.results.resume import done_case_ids, load_previous
from bench.config.selection import Selection, check_checkpoint_folder, check_writable, select
from bench.run.session import BenchSession

_SESSION = pytest.StashKey[BenchSession]()
_SELECTION = pytest.StashKey[Selection]()
_WRITER = pytest.StashKey[ResultWriter]()
_PREVIOUS = pytest.StashKey[dict]()
_ONLY = pytest.StashKey[set]()
_SELECTED = pytest.StashKey[int]()
_PROGRESS = pytest.StashKey[ProgressDisplay]()
CASE_FIELDS = ("api", "op", "state_dict_type", "options", "model", "mesh_shape")
def _checked_selection(config: pytest.Config) -> Selection:
    """Everything the command line names, checked before anything runs; raises BadInput."""
    convert_numbers(config)
    check_metric(config)  # before round_overrides, which gives instructions mode its own rounds
    overrides = round_overrides(config)
    meshes = launched_meshes(config.getoption("--mesh"), config.getoption("--world-size"))  # under a launcher
    selection = select(config.getoption("--profile"), config.getoption("--model"), meshes,
                       config.getoption("--world-size"), overrides, config.getoption("--dtype"),
                       cuda_devices=cuda_device_count)
    parse_faults(config.getoption("--fault"))
    known_bugs()  # a bad STATEDICT_BENCH_KNOWN_BUGS file is bad input, said before anything runs
    check_ranges(config)
    check_checkpoint_folder(config.getoption("--checkpoint-dir"))
    if config.getoption("--only-cases"):
        config.stash[_ONLY] = read_case_ids(Path(config.getoption("--only-cases")))
    resume = config.getoption("--resume")
    if resume:
        config.stash[_PREVIOUS] = load_previous(Path(resume), selection.profile.name, asdict(selection.settings))
    output = _output_path(config)
    if output is not None:
        check_writable(output)
    return selection


def _output_path(config: pytest.Config) -> Path | None:
    json_option = config.getoption("benchmark_json", None)
    if json_option is not None:
        return target_path(json_option)
    resume = config.getoption("--resume")
    return Path(resume) if resume else None


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config):
    """Bad input ends the run here, before pytest configures anything: one line, exit code 2, no file written.
    (A pytest.UsageError would exit with 4 and print pytest's usage.)"""
    if config.option.help or config.option.version:
        return None
    try:
        config.stash[_SELECTION] = _checked_selection(config)
    except ValueError as exc:  # BadInput, and the ValueError of any other option check
        print(f"statedict-bench: error: {exc}", file=sys.stderr)
        return 2
    return None


def _stop_on_sigterm(signum, frame):
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


@pytest.hookimpl(trylast=True)  # after pytest-benchmark's, which makes its session
def pytest_configure(config: pytest.Config) -> None:
    if _SELECTION not in config.stash:  # this conftest was not an initial one: pytest_cmdline_main did not run
        try:
            config.stash[_SELECTION] = _checked_selection(config)
        except ValueError as exc:
            pytest.exit(f"statedict-bench: error: {exc}", returncode=2)
    output = _output_path(config)
    if output is not None:
        config.stash[_WRITER] = ResultWriter(config, output, config.stash.get(_PREVIOUS, None))
        # the suite writes the file, after every case (bench/plugin/result_writer.py)
        config._benchmarksession.json = None
    # SIGTERM ends the run as Ctrl-C does: worlds shut down, the file says what finished and that it is incomplete.
    signal.signal(signal.SIGTERM, _stop_on_sigterm)


def pytest_unconfigure(config: pytest.Config) -> None:
    _stop_progress(config)  # stopped already, unless pytest ended outside its test loop
    if _SELECTION in config.stash:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "mesh_shape" not in metafunc.fixturenames:
        return
    selection = metafunc.config.stash[_SELECTION]
    profile = selection.profile
    cases = expand(selection.meshes, selection.models, selection.checkpoint_models)
    cases = with_dtypes(limit_cases(cases, profile.limited_models), selection.dtypes)
    cases = with_faults(cases, parse_faults(metafunc.config.getoption("--fault")))
    cases += simulated_cases(selection.simulated_models, profile.simulated_fsdp2_ranks, profile.simulated_plan_ranks)
    cases += scale_cases(profile.simulations, selection.scale_models)
    metafunc.parametrize(CASE_FIELDS, [(c.api, c.op, c.state_dict_type, c.options_dict, c.model, c.mesh_shape)
                                       for c in cases], ids=[c.id for c in cases])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Holds back the cases a resumed file has done and those --only-cases leaves out."""
    previous, only = config.stash.get(_PREVIOUS, None), config.stash.get(_ONLY, None)
    if previous is None and only is None:
        return
    ids = {item: item.callspec.id for item in items if getattr(item, "callspec", None)}
    if only is not None and (complaint := unknown_ids(only, set(ids.values()))):
        pytest.exit(f"statedict-bench: error: {complaint}", returncode=2)
    done = done_case_ids(previous) if previous is not None else set()
    kept, held = [], []
    for item in items:
        case = ids.get(item)
        (held if case is not None and (case in done or (only is not None and case not in only)) else kept).append(item)
    if held:
        config.hook.pytest_deselected(items=held)
        items[:] = kept


def pytest_collection_finish(session: pytest.Session) -> None:
    session.config.stash[_SELECTED] = len(session.items)
    if _SELECTION in session.config.stash:
        session.config.stash[_PROGRESS] = _progress_display(session.config, len(session.items))
    if not session.items and session.config.stash.get(_SELECTION, None):
        keyword = session.config.getoption("keyword") or ""
        resumed = " that the resumed file lacks" if session.config.getoption("--resume") else ""
        session.config.get_terminal_writer().line(
            f"statedict-bench: no case of profile {session.config.getoption('--profile')!r}{resumed} matches "
            f"the selection{f' -k {keyword!r}' if keyword else ''}", red=True)


def _progress_display(config: pytest.Config, total: int) -> ProgressDisplay:
    """A live bar on a terminal, plain lines in a log (bench/run/terminal.py make_display)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    return make_display(Progress(total, config.getoption("--progress-s")), functools.partial(_say, config),
                        reporter._tw if reporter else None,
                        test_output_to_terminal=config.getoption("capture") == "no")


@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session: pytest.Session):
    try:
        return (yield)
    finally:  # also when the run fails or is interrupted: the terminal is left clean
        _stop_progress(session.config)


def _stop_progress(config: pytest.Config) -> None:
    display = config.stash.get(_PROGRESS, None)
    if display is not None:
        display.stop()


@pytest.fixture(scope="session")
def bench_session(request: pytest.FixtureRequest):
    selection = request.config.stash[_SELECTION]
    previous = request.config.stash.get(_PREVIOUS, None)
    cap = request.config.getoption("--max-host-memory-gb") or selection.profile.host_memory_cap_gb
    set_placement(request.config.getoption("--threads-per-rank"), request.config.getoption("--pin-ranks"))
    callgrind = None
    if request.config.getoption("--metric") == "instructions":
        callgrind = Path(tempfile.mkdtemp(prefix="statedict-bench-callgrind-"))
        instructions.enable(callgrind)
    session = BenchSession(selection.profile, selection.settings,
                           checkpoint_parent=request.config.getoption("--checkpoint-dir"),
                           fsync=not request.config.getoption("--no-fsync"),
                           ceiling_bytes=request.config.getoption("--ceiling-mib") * 2**20,
                           first_sequence=len(done_case_ids(previous)) if previous else 0,
                           host_memory_cap_bytes=None if cap is None else int(cap * 2**30),
                           waiting=request.config.stash[_PROGRESS].waiting)
    request.config.stash[_SESSION] = session
    _say(request.config, *(f"statedict-bench: warning: {warning}"
                           for warning in session.run_info["machine_state"]["warnings"]))
    yield session
    session.close()
    if callgrind is not None:  # the wrapper and the ranks' last dumps (the counts were read round by round)
        shutil.rmtree(callgrind, ignore_errors=True)


def _say(config: pytest.Config, *lines: str) -> None:
    """Lines of the suite's own between pytest's progress characters (each on a line of its own)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or not lines:
        return
    # A fixture's setup runs with output captured (shown only if the test fails): these lines are for the user now.
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        for line in lines:
            if getattr(reporter._tw, "width_of_current_line", 0):  # after pytest's progress characters
                reporter.write("\n")
            reporter.write_line(line)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    progress = item.config.stash.get(_PROGRESS, None)
    if progress is not None:
        progress.case_started(item.callspec.id if hasattr(item, "callspec") else item.name)
    result = yield
    if progress is not None:
        progress.case_finished()
    session = item.config.stash.get(_SESSION, None)
    if session is not None:
        # A paced run (compare mode) holds its turn until the case is reported and its file written, so that this
        # work does not fall into the other side's rounds.
        session.end_turn()
    return result


@pytest.fixture
def save_progress(request: pytest.FixtureRequest):
    """Call after a case: rewrites the result file. Returns why it could not (the case is then an error)."""
    writer = request.config.stash.get(_WRITER, None)

    def save() -> str | None:
        if writer is None:
            return None
        try:
            writer.write(complete=False)
        except OSError as exc:
            return f"results file {writer.path} not written: {exc.strerror or exc}"
        return None

    return save


def pytest_benchmark_update_json(config: pytest.Config, benchmarks, output_json: dict) -> None:
    session = config.stash.get(_SESSION, None)
    if session is None:
        return
    writer = config.stash.get(_WRITER, None)
    output_json["run"] = session.finished_run_info(writing_s=writer.seconds if writer else 0.0)
    output_json["untimed_cases"] = [
        {"name": record["case_id"], "extra_info": record} for record in session.records if not record["rank_times_s"]]


@pytest.hookimpl(wrapper=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int):
    result = yield
    # After every other plugin: the worlds are stopped, so the run's figures (world starts, rank pids) are final.
    config = session.config
    writer, bench = config.stash.get(_WRITER, None), config.stash.get(_SESSION, None)
    finished = len(bench.records) if bench else 0  # no session: no case ran (a resumed run may have none left)
    if writer is None or not (finished or writer.previous):
        return result
    complete = exitstatus != pytest.ExitCode.INTERRUPTED and finished == config.stash.get(_SELECTED, -1)
    try:
        writer.write(complete=complete)
    except OSError as exc:
        print(f"statedict-bench: error: results file {writer.path} not written: {exc.strerror or exc}",
              file=sys.stderr)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    return result
