"""Short names for the series of one chart panel: what all its series share is said once (in the panel's title), and
each series is named by what sets it apart, e.g. 'full · rank0_only=1' in a panel of fsdp1 get_model on one model."""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

SEPARATOR = " · "
HIDDEN_OPTIONS = ("simulated",)
"""Options a chart shows otherwise: a simulated series is marked by its drawing (hollow markers, dashed line)."""


def option_items(label: Any) -> dict[str, str]:
    """A case's options label ('k=v,k2=v2', bench.results.reader.options_label; '-' for none) as {k: 'k=v'}, without
    the options a chart marks otherwise."""
    if not isinstance(label, str) or label in ("", "-"):
        return {}
    items = {}
    for part in label.split(","):
        key = part.split("=", 1)[0]
        if key not in HIDDEN_OPTIONS:
            items[f"option {key}"] = part
    return items


def describing_fields(row: Mapping[str, Any], fields: Iterable[str]) -> dict[str, str]:
    """The row's fields that tell series apart, as displayable values: plain fields as their value, the options as
    one item per option ('offload_to_cpu=1'), a mesh of two or more dimensions as '2D mesh'."""
    described: dict[str, str] = {}
    for name in fields:
        value = row.get(name)
        if name == "options_label":
            described.update(option_items(value))
        elif name == "mesh":
            described[name] = f"mesh {value}"
        elif name == "mesh_dims":
            described[name] = f"{int(value)}D mesh" if value and value > 1 else ""
        elif value is not None and value == value:  # NaN: a field the case does not have
            described[name] = str(value)
    return described


def short_names(described: Sequence[Mapping[str, str]]) -> tuple[str, list[str]]:
    """(what every series shares, each series' name by what sets it apart). A series that differs from the others
    in nothing (a lone one) is named by all it has, so no series is left nameless."""
    keys = list(dict.fromkeys(k for d in described for k in d))
    varying = [k for k in keys if len({d.get(k, "") for d in described}) > 1]
    shared = [described[0][k] for k in keys if k not in varying and described and described[0].get(k)]
    names = []
    for d in described:
        parts = [d.get(k, "") for k in varying if d.get(k, "")]
        names.append(SEPARATOR.join(parts) or SEPARATOR.join(v for v in d.values() if v) or "all")
    return SEPARATOR.join(shared), names
