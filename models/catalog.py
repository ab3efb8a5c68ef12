"""The zoo's models by name, without torch: each one's family, size and whether its shards are uneven. The
configuration (profiles, selection) checks names against this; models/zoo.py builds each entry's module."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from models.shapes import LLAMA3, MOE_16B, DecoderShape

PRESET_SIZES = ("1m", "10m", "100m", "1b")
"""The sized MLP and transformer presets (their shapes: models/zoo.py)."""


class UnknownModelError(ValueError):
    """A model name that the zoo does not have."""


@dataclass(frozen=True, kw_only=True, slots=True)
class ModelEntry:
    name: str
    """The zoo name, e.g. `transformer_10m_uneven`."""
    family: str
    """`dummy`, `mlp`, `transformer`, `llama3` or `moe`."""
    uneven: bool
    """True when dim 0 of the sharded tensors is not divisible by 2, 4 or 8 (some ranks get padded or empty shards)."""
    size_class: str
    """`tiny` for the dummies, the preset (`1m`, `10m`, `100m`, `1b`) whose shapes models/zoo.py builds, or the real
    model's size (`8b`, `16b`, ...)."""
    shape: DecoderShape | None = None
    """A real model's shape (models/shapes.py), possibly scaled in width or truncated in depth."""
    scale_of: str | None = None
    """The real model this one is a scaled or truncated variant of; None: the model itself."""

    def scale(self) -> dict[str, Any] | None:
        """What a scaled variant keeps of its real model, for the record; None for any other model."""
        if self.scale_of is None or self.shape is None:
            return None
        return {"of": self.scale_of, "width_divisor": self.shape.width_divisor, "layers": self.shape.layers,
                "of_layers": self.shape.of_layers or self.shape.layers}


def _entries() -> dict[str, ModelEntry]:
    entries = [ModelEntry(name="dummy", family="dummy", uneven=False, size_class="tiny"),
               ModelEntry(name="dummy_uneven", family="dummy", uneven=True, size_class="tiny")]
    for family in ("mlp", "transformer"):
        for size in PRESET_SIZES:
            for uneven in (False, True):
                entries.append(ModelEntry(name=f"{family}_{size}" + ("_uneven" if uneven else ""), family=family,
                                          uneven=uneven, size_class=size))
    entries += _real_entries()
    return {entry.name: entry for entry in entries}


WIDTH_VARIANTS = {"llama3_8b": 16, "llama3_70b": 16, "llama3_405b": 32, "moe_16b": 16, "moe_16b_ungrouped": 16}
"""Structure-faithful variants that run for real here: `<model>_w<D>` has 1/D of the widths (models/shapes.py)."""
DEPTH_VARIANTS = {"llama3_405b": (1, 2, 4)}
"""Depth-truncated variants with exact tensor shapes: `<model>_l<K>` keeps the first K blocks (planning at 16,384
simulated ranks, whose metadata for all 126 blocks would not fit in memory)."""


def _real_entries() -> list[ModelEntry]:
    shapes = {f"llama3_{size}": (size, shape) for size, shape in LLAMA3.items()}
    shapes["moe_16b"] = ("16b", MOE_16B)
    shapes["moe_16b_ungrouped"] = ("16b", dataclasses.replace(MOE_16B, grouped=False))
    entries = [ModelEntry(name=name, family=name.split("_")[0], uneven=False, size_class=size, shape=shape)
               for name, (size, shape) in shapes.items()]
    for name, divisor in WIDTH_VARIANTS.items():
        size, shape = shapes[name]
        entries.append(ModelEntry(name=f"{name}_w{divisor}", family=name.split("_")[0], uneven=False,
                                  size_class=size, shape=shape.scaled(divisor), scale_of=name))
    for name, depths in DEPTH_VARIANTS.items():
        size, shape = shapes[name]
        entries += [ModelEntry(name=f"{name}_l{layers}", family=name.split("_")[0], uneven=False, size_class=size,
                               shape=shape.truncated(layers), scale_of=name) for layers in depths]
    return entries


CATALOG = _entries()
MODEL_NAMES: tuple[str, ...] = tuple(CATALOG)


def model_entry(name: str) -> ModelEntry:
    try:
        return CATALOG[name]
    except KeyError:
        raise UnknownModelError(f"unknown model {name!r}; known models: {', '.join(MODEL_NAMES)}") from None
