"""What a run measures, from its command line: profile, models, meshes, round settings. Every mistake is a
`BadInput` with a one-line message, checked before anything runs or any file is written."""

from __future__ import annotations

import dataclasses
import math
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from importlib import metadata
from typing import Any, Callable

from bench.config.gpu_profile import gpu_mesh_shapes
from bench.ops.matrix import DEFAULT_DTYPE, DTYPES, mesh_label
from bench.config.profiles import Profile, RoundSettings, UnknownProfileError, get_profile
from models.catalog import UnknownModelError, model_entry

MIN_FREE_BYTES = 16 * 2**20
"""A results folder with less free space than this is called full: a result file of a quick run is ~2 MB."""


class BadInput(ValueError):
    """A command line or input file the suite refuses; its message is one line naming what is wrong."""


@dataclass(frozen=True, slots=True)
class Selection:
    profile: Profile
    models: list[str]
    meshes: list[tuple[int, ...]]
    settings: RoundSettings
    checkpoint_models: list[str]
    """Models of the checkpoint cases: the profile's, or all models named on the command line."""
    dtypes: tuple[str | None, ...] = (None,)
    """Each case's dtype variants (bench/ops/matrix.py with_dtypes); None: float32 without a `dtype` option."""
    simulated_models: tuple[str, ...] = ()
    """Models of the simulated cases (at the profile's simulated rank counts); empty: no simulated case. Only a run
    that names no --mesh or --world-size has them: naming a world asks for real ranks."""
    scale_models: tuple[str, ...] | None = ()
    """Models of the profile's simulations (Profile.simulations) that run: None for all of them, the models named
    with --model, or none when a world is named."""


def split(values: list[str]) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def parse_mesh(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(part) for part in text.lower().split("x"))
    except ValueError:
        raise BadInput(f"mesh {text!r} is not a shape like 4 or 2x2") from None
    if not 1 <= len(shape) <= 2 or min(shape) < 1:
        raise BadInput(f"mesh {text!r} must be one or two positive sizes, like 4 or 2x2")
    return shape


def _fit_world_size(meshes: list[tuple[int, ...]], world_size: int | None, explicit: bool,
                    profile: Profile) -> list[tuple[int, ...]]:
    """--world-size N keeps the meshes of N ranks; a --mesh of another size is a mistake, not a filter."""
    if world_size is None:
        return meshes
    if world_size < 1:
        raise BadInput(f"--world-size must be >= 1, got {world_size}")
    wrong = [m for m in meshes if math.prod(m) != world_size]
    if explicit and wrong:
        raise BadInput(f"mesh {mesh_label(wrong[0])} has {math.prod(wrong[0])} ranks, not --world-size {world_size}")
    kept = [m for m in meshes if math.prod(m) == world_size]
    if not kept:
        raise BadInput(f"profile {profile.name} has no mesh of {world_size} ranks "
                       f"({', '.join(map(mesh_label, meshes))}); name one with --mesh")
    return kept


def round_settings(base: RoundSettings, overrides: dict[str, Any]) -> RoundSettings:
    if "min_rounds" in overrides and "max_rounds" not in overrides:
        overrides = {**overrides, "max_rounds": max(base.max_rounds, overrides["min_rounds"])}
    try:
        return dataclasses.replace(base, **overrides)
    except ValueError as exc:
        raise BadInput(str(exc)) from None


def _dtypes(profile: Profile, chosen: list[str]) -> tuple[str | None, ...]:
    """The profile's dtypes, or those of --dtype. A profile that does not vary the dtype tags only the other dtypes,
    so that its float32 cases keep their ids."""
    for dtype in chosen:
        if dtype not in DTYPES:
            raise BadInput(f"unknown dtype {dtype!r}; choose from {', '.join(DTYPES)}")
    dtypes = list(dict.fromkeys(chosen)) or list(profile.dtypes)
    if not profile.dtypes:
        return tuple(None if dtype == DEFAULT_DTYPE else dtype for dtype in dtypes) or (None,)
    return tuple(dtypes)


def _torch_version() -> str:
    """The installed torch's version, read from its metadata without importing it."""
    try:
        return metadata.version("torch")
    except metadata.PackageNotFoundError:
        return "(not installed)"


def _gpu_meshes(profile: Profile, shapes: list[tuple[int, ...]],
                devices: int | Callable[[], int] | None) -> list[tuple[int, ...]]:
    """A profile that needs CUDA: its worlds from the GPU count, and no world of more ranks than GPUs."""
    devices = (devices() if callable(devices) else devices) or 0
    if devices < 1:
        raise BadInput(f"the {profile.name} profile needs CUDA: torch {_torch_version()} sees no GPU here "
                       f"(torch.cuda.is_available() is False); run --profile quick instead")
    for shape in shapes:
        if math.prod(shape) > devices:
            raise BadInput(f"mesh {mesh_label(shape)} needs {math.prod(shape)} GPUs, this machine has {devices}")
    return shapes or gpu_mesh_shapes(devices)


def select(profile_name: str, models: list[str], meshes: list[str], world_size: int | None,
           overrides: dict[str, Any], dtypes: list[str] | None = None, *,
           cuda_devices: int | Callable[[], int] | None = None) -> Selection:
    """`cuda_devices`: the GPU count a profile that needs CUDA plans for, or the function that counts them (asked
    only then: bench.machine.gpus.cuda_device_count from the plugin); None: no GPUs."""
    try:
        profile = get_profile(profile_name)
        chosen = split(models)
        models = chosen or list(profile.models)
        for model in models:
            model_entry(model)
        profile_checkpoint_models = profile.models if profile.checkpoint_models is None else profile.checkpoint_models
        checkpoint_models = chosen or list(profile_checkpoint_models)
    except (UnknownProfileError, UnknownModelError) as exc:
        raise BadInput(str(exc)) from None
    shapes = [parse_mesh(m) for m in split(meshes)]
    # Naming a world asks for real ranks: simulated cases only run when no --mesh or --world-size is given.
    simulated_models = () if shapes or world_size is not None else tuple(chosen or profile.simulated_models)
    scale_models = () if shapes or world_size is not None else (tuple(chosen) or None)
    explicit = bool(shapes)
    if profile.needs_cuda:
        shapes = _gpu_meshes(profile, shapes, cuda_devices)
    shapes = _fit_world_size(shapes or list(profile.mesh_shapes), world_size, explicit, profile)
    return Selection(profile, models, shapes, round_settings(profile.rounds, overrides), checkpoint_models,
                     dtypes=_dtypes(profile, split(dtypes or [])), simulated_models=simulated_models,
                     scale_models=scale_models)


def check_writable(path: Path) -> None:
    """Refuse, before the run, a result file that could not be written: folder not creatable, not writable, full."""
    if path.is_dir():
        raise BadInput(f"results file {path} is a folder")
    existing = path.parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise BadInput(f"cannot write results file {path}: {existing} is not a folder")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".statedict-bench-probe."):
            pass
    except OSError as exc:
        raise BadInput(f"results folder {path.parent} is not writable: {exc.strerror or exc}") from None
    free = shutil.disk_usage(path.parent).free
    if free < MIN_FREE_BYTES:
        raise BadInput(f"results folder {path.parent} is full: {free / 2**20:.1f} MiB free")


def check_checkpoint_folder(parent: str | None) -> None:
    """A checkpoint folder that cannot be written is said before the run, not as hundreds of failed cases."""
    from bench.machine.checkpoint_files import make_private_dir, remove_tree

    try:
        remove_tree(make_private_dir(parent, prefix="statedict-bench-probe-"))
    except OSError as exc:
        raise BadInput(f"checkpoint folder {parent or tempfile.gettempdir()} is not writable: "
                       f"{exc.strerror or exc}") from None
