"""Named models: each name maps to a constructor (on the meta device), the module types FSDP wraps as units, and
whether its shapes divide evenly by 2, 4 and 8."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import nn

from models.architectures import MLP, Block, DummyModel, Transformer
from models.decoder import Decoder, TransformerBlock
from models.catalog import (CATALOG, MODEL_NAMES, PRESET_SIZES, ModelEntry, UnknownModelError,  # noqa: F401
                            model_entry)


@dataclass(frozen=True, kw_only=True, slots=True)
class ModelSpec:
    name: str
    """The zoo name, e.g. `transformer_10m_uneven`."""
    family: str
    """`dummy`, `mlp`, `transformer`, `llama3` or `moe` (models/catalog.py)."""
    uneven: bool
    """True when dim 0 of the sharded tensors is not divisible by 2, 4 or 8 (some ranks get padded or empty shards)."""
    construct: Callable[[], nn.Module]
    """Builds the module with uninitialised parameters; called under the meta device by models.init."""
    wrap_unit_types: tuple[type[nn.Module], ...]
    """Module types that FSDP wraps as units of their own (the root is always one too)."""


# (width, depth) of the MLP; the uneven variant adds 1 to the width so dim 0 is odd.
_MLP_PRESETS = {"1m": (512, 4), "10m": (1024, 10), "100m": (2048, 24), "1b": (4096, 60)}

# (vocab, dim, layers, heads, hidden) even and uneven; every uneven dimension is odd, heads divide dim.
_TRANSFORMER_PRESETS = {
    "1m": ((1024, 128, 4, 4, 512), (1025, 129, 4, 3, 515)),
    "10m": ((8192, 256, 8, 8, 1024), (8193, 255, 8, 5, 1021)),
    "100m": ((32000, 768, 12, 12, 3072), (32001, 765, 12, 9, 3061)),
    "1b": ((32000, 2048, 18, 16, 8192), (32001, 2043, 18, 9, 8171)),
}


assert tuple(_MLP_PRESETS) == tuple(_TRANSFORMER_PRESETS) == PRESET_SIZES  # one list of sizes: models/catalog.py


def _spec(entry: ModelEntry) -> ModelSpec:
    """The catalogue entry with its constructor and FSDP units."""
    if entry.shape is not None:  # a real model's shape: a block is an FSDP unit, as torchtitan wraps it
        shape = entry.shape
        construct, units = (lambda: Decoder(shape)), (TransformerBlock,)
    elif entry.family == "dummy":
        widths = (5, 10, 15, 30, 5) if entry.uneven else (8, 16, 32, 64, 8)
        construct, units = (lambda: DummyModel(widths)), ()
    elif entry.family == "mlp":
        width, depth = _MLP_PRESETS[entry.size_class]
        w = width + 1 if entry.uneven else width
        construct, units = (lambda: MLP(w, depth)), (nn.Linear,)
    else:
        shape = _TRANSFORMER_PRESETS[entry.size_class][1 if entry.uneven else 0]
        construct, units = (lambda: Transformer(*shape)), (Block,)
    return ModelSpec(name=entry.name, family=entry.family, uneven=entry.uneven, construct=construct,
                     wrap_unit_types=units)


_SPECS = {name: _spec(entry) for name, entry in CATALOG.items()}


def get_model_spec(name: str) -> ModelSpec:
    return _SPECS[model_entry(name).name]  # model_entry: an unknown name is UnknownModelError
