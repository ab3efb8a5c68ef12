"""Named models: each name maps to a constructor (on the meta device), the module types FSDP wraps as units, and
whether its shapes divide evenly by 2, 4 and 8."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import nn

from models.architectures import MLP, Block, DummyModel, Transformer


class UnknownModelError(ValueError):
    """A model name that the zoo does not have."""


@dataclass(frozen=True, kw_only=True, slots=True)
class ModelSpec:
    name: str
    """The zoo name, e.g. `transformer_10m_uneven`."""
    family: str
    """`dummy`, `mlp` or `transformer`."""
    uneven: bool
    """True when dim 0 of the sharded tensors is not divisible by 2, 4 or 8 (some ranks get padded or empty shards)."""
    construct: Callable[[], nn.Module]
    """Builds the module with uninitialised parameters; called under the meta device by models.init."""
    wrap_unit_types: tuple[type[nn.Module], ...]
    """Module types that FSDP wraps as units of their own (the root is always one too)."""
    size_class: str
    """`tiny` for the dummies, else the preset: `1m`, `10m`, `100m`, `1b`. Profiles pick models by it."""


# (width, depth) of the MLP; the uneven variant adds 1 to the width so dim 0 is odd.
_MLP_PRESETS = {"1m": (512, 4), "10m": (1024, 10), "100m": (2048, 24), "1b": (4096, 60)}

# (vocab, dim, layers, heads, hidden) even and uneven; every uneven dimension is odd, heads divide dim.
_TRANSFORMER_PRESETS = {
    "1m": ((1024, 128, 4, 4, 512), (1025, 129, 4, 3, 515)),
    "10m": ((8192, 256, 8, 8, 1024), (8193, 255, 8, 5, 1021)),
    "100m": ((32000, 768, 12, 12, 3072), (32001, 765, 12, 9, 3061)),
    "1b": ((32000, 2048, 18, 16, 8192), (32001, 2043, 18, 9, 8171)),
}


def _build_specs() -> dict[str, ModelSpec]:
    specs = [
        ModelSpec(name="dummy", family="dummy", uneven=False, construct=lambda: DummyModel((8, 16, 32, 64, 8)),
                  wrap_unit_types=(), size_class="tiny"),
        ModelSpec(name="dummy_uneven", family="dummy", uneven=True,
                  construct=lambda: DummyModel((5, 10, 15, 30, 5)), wrap_unit_types=(), size_class="tiny"),
    ]
    for size, (width, depth) in _MLP_PRESETS.items():
        for uneven in (False, True):
            w = width + 1 if uneven else width
            specs.append(ModelSpec(
                name=f"mlp_{size}" + ("_uneven" if uneven else ""), family="mlp", uneven=uneven,
                construct=lambda w=w, d=depth: MLP(w, d), wrap_unit_types=(nn.Linear,), size_class=size))
    for size, shapes in _TRANSFORMER_PRESETS.items():
        for uneven, shape in zip((False, True), shapes):
            specs.append(ModelSpec(
                name=f"transformer_{size}" + ("_uneven" if uneven else ""), family="transformer", uneven=uneven,
                construct=lambda s=shape: Transformer(*s), wrap_unit_types=(Block,), size_class=size))
    return {spec.name: spec for spec in specs}


_SPECS = _build_specs()
MODEL_NAMES: tuple[str, ...] = tuple(_SPECS)


def get_model_spec(name: str) -> ModelSpec:
    try:
        return _SPECS[name]
    except KeyError:
        raise UnknownModelError(f"unknown model {name!r}; known models: {', '.join(MODEL_NAMES)}") from None
