"""pytest wiring of the benchmark: options, the case matrix as parameters, the run's session, the JSON additions.

`python -m pytest bench/ --profile=quick --benchmark-json=FILE [-k EXPR]`.
"""

from __future__ import annotations

import tempfile

import pytest

from bench.checkpoint_files import make_private_dir, remove_tree
from bench.matrix import expand
from bench.results_file import write_json_atomically
from bench.profiles import RoundSettings, UnknownProfileError, get_profile
from bench.session import BenchSession
from models import UnknownModelError, get_model_spec

_SESSION = pytest.StashKey[BenchSession]()
_SELECTION = pytest.StashKey[dict]()
CASE_FIELDS = ("api", "op", "state_dict_type", "options", "model", "mesh_shape")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("statedict-bench")
    group.addoption("--profile", default="quick", help="quick (default), nightly or full")
    group.addoption("--model", action="append", default=[],
                    help="measure only these zoo models (repeat or comma-separate); default: the profile's")
    group.addoption("--mesh", action="append", default=[],
                    help="measure only these mesh shapes, e.g. 2 or 2x2 (repeat or comma-separate)")
    group.addoption("--min-rounds", type=int, help="override the profile's minimum measured rounds")
    group.addoption("--max-rounds", type=int, help="override the profile's maximum measured rounds")
    group.addoption("--warmup-rounds", type=int, help="override the profile's warm-up rounds")
    group.addoption("--budget-s", type=float, help="override the profile's time budget per case (seconds)")
    group.addoption("--case-timeout-s", type=float, help="override the profile's per-case timeout (seconds)")
    group.addoption("--checkpoint-dir", default=None,
                    help="folder for checkpoints (a private subfolder is made and removed); default: the system's "
                         "temporary folder, which must be on the disk you want measured")
    group.addoption("--no-fsync", action="store_true",
                    help="let saves stop at the page cache instead of fsync'ing files and folders")
    group.addoption("--ceiling-mib", type=int, default=256,
                    help="size of the file and copy used to measure the machine's ceilings (MiB, default 256)")


def _split(values: list[str]) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _parse_mesh(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(part) for part in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"mesh {text!r} is not a shape like 4 or 2x2") from None
    if not 1 <= len(shape) <= 2 or min(shape) < 1:
        raise ValueError(f"mesh {text!r} must be one or two positive sizes, like 4 or 2x2")
    return shape


def _selection(config: pytest.Config) -> dict:
    profile = get_profile(config.getoption("--profile"))
    chosen = _split(config.getoption("--model"))
    models = chosen or list(profile.models)
    checkpoint_models = chosen or list(profile.checkpoint_models or profile.models)
    for model in models:
        get_model_spec(model)
    meshes = [_parse_mesh(m) for m in _split(config.getoption("--mesh"))] or list(profile.mesh_shapes)
    overrides = {name: config.getoption(option) for name, option in (
        ("min_rounds", "--min-rounds"), ("max_rounds", "--max-rounds"), ("warmup_rounds", "--warmup-rounds"),
        ("budget_s", "--budget-s"), ("case_timeout_s", "--case-timeout-s")) if config.getoption(option) is not None}
    base = profile.rounds
    fields = {f: getattr(base, f) for f in base.__dataclass_fields__}
    if "min_rounds" in overrides and "max_rounds" not in overrides:
        fields["max_rounds"] = max(fields["max_rounds"], overrides["min_rounds"])
    settings = RoundSettings(**{**fields, **overrides})
    checkpoint_parent = config.getoption("--checkpoint-dir")
    _check_writable(checkpoint_parent)
    if config.getoption("--ceiling-mib") < 8:
        raise ValueError("--ceiling-mib must be at least 8")
    return {"profile": profile, "models": models, "checkpoint_models": checkpoint_models, "meshes": meshes,
            "settings": settings,
            "checkpoint_parent": checkpoint_parent}


def _check_writable(parent: str | None) -> None:
    """A checkpoint folder that cannot be written is said before the run, not as hundreds of failed cases."""
    try:
        remove_tree(make_private_dir(parent, prefix="statedict-bench-probe-"))
    except OSError as exc:
        raise ValueError(f"checkpoint folder {parent or tempfile.gettempdir()!r} is not writable: {exc}") from None


def pytest_configure(config: pytest.Config) -> None:
    try:
        config.stash[_SELECTION] = _selection(config)
    except (UnknownProfileError, UnknownModelError, ValueError) as exc:
        raise pytest.UsageError(str(exc)) from None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "mesh_shape" not in metafunc.fixturenames:
        return
    selection = metafunc.config.stash[_SELECTION]
    cases = expand(selection["meshes"], selection["models"], selection["checkpoint_models"])
    metafunc.parametrize(CASE_FIELDS, [(c.api, c.op, c.state_dict_type, c.options_dict, c.model, c.mesh_shape)
                                       for c in cases], ids=[c.id for c in cases])


def pytest_collection_finish(session: pytest.Session) -> None:
    if not session.items and session.config.stash.get(_SELECTION, None):
        keyword = session.config.getoption("keyword") or ""
        session.config.get_terminal_writer().line(
            f"statedict-bench: no case of profile {session.config.getoption('--profile')!r} matches "
            f"the selection{f' -k {keyword!r}' if keyword else ''}", red=True)


@pytest.fixture(scope="session")
def bench_session(request: pytest.FixtureRequest):
    selection = request.config.stash[_SELECTION]
    session = BenchSession(selection["profile"], selection["settings"],
                           checkpoint_parent=selection["checkpoint_parent"],
                           fsync=not request.config.getoption("--no-fsync"),
                           ceiling_bytes=request.config.getoption("--ceiling-mib") * 2**20)
    request.config.stash[_SESSION] = session
    yield session
    session.close()


def pytest_benchmark_update_json(config: pytest.Config, benchmarks, output_json: dict) -> None:
    session = config.stash.get(_SESSION, None)
    if session is None:
        return
    output_json["run"] = session.finished_run_info()
    output_json["untimed_cases"] = [
        {"name": record["case_id"], "extra_info": record} for record in session.records if not record["rank_times_s"]]


@pytest.hookimpl(hookwrapper=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int):
    yield
    # pytest-benchmark writes no file when no case was timed; the unsupported and failed cases must still be kept.
    bench = session.config.stash.get(_SESSION, None)
    path = session.config.getoption("benchmark_json", None)
    if bench is None or path is None or any(record["rank_times_s"] for record in bench.records):
        return
    output = {"machine_info": {}, "commit_info": {}, "benchmarks": [], "version": None}
    pytest_benchmark_update_json(session.config, [], output)
    write_json_atomically(path, output)
