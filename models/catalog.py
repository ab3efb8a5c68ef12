"""The zoo's models by name, without torch: each one's family, size and whether its shards are uneven. The
configuration (profiles, selection) checks names against this; models/zoo.py builds each entry's module."""

from __future__ import annotations

from dataclasses import dataclass

PRESET_SIZES = ("1m", "10m", "100m", "1b")
"""The sized MLP and transformer presets (their shapes: models/zoo.py)."""


class UnknownModelError(ValueError):
    """A model name that the zoo does not have."""


@dataclass(frozen=True, kw_only=True, slots=True)
class ModelEntry:
    name: str
    """The zoo name, e.g. `transformer_10m_uneven`."""
    family: str
    """`dummy`, `mlp` or `transformer`."""
    uneven: bool
    """True when dim 0 of the sharded tensors is not divisible by 2, 4 or 8 (some ranks get padded or empty shards)."""
    size_class: str
    """`tiny` for the dummies, else the preset (`1m`, `10m`, `100m`, `1b`) whose shapes models/zoo.py builds."""


def _entries() -> dict[str, ModelEntry]:
    entries = [ModelEntry(name="dummy", family="dummy", uneven=False, size_class="tiny"),
               ModelEntry(name="dummy_uneven", family="dummy", uneven=True, size_class="tiny")]
    for family in ("mlp", "transformer"):
        for size in PRESET_SIZES:
            for uneven in (False, True):
                entries.append(ModelEntry(name=f"{family}_{size}" + ("_uneven" if uneven else ""), family=family,
                                          uneven=uneven, size_class=size))
    return {entry.name: entry for entry in entries}


CATALOG = _entries()
MODEL_NAMES: tuple[str, ...] = tuple(CATALOG)


def model_entry(name: str) -> ModelEntry:
    try:
        return CATALOG[name]
    except KeyError:
        raise UnknownModelError(f"unknown model {name!r}; known models: {', '.join(MODEL_NAMES)}") from None
