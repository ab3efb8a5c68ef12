"""Walking state dicts: their local tensors, their sizes, equality with a saved copy, and perturbation.

A state dict here is any nesting of dicts, lists and tuples whose leaves are tensors (plain, DTensor or
ShardedTensor) or plain Python values.
"""

from __future__ import annotations

from typing import Any, Iterator

import torch

try:
    from torch.distributed._shard.sharded_tensor import ShardedTensor
except ImportError:  # a torch without ShardedTensor
    ShardedTensor = ()  # type: ignore[assignment,misc]
from torch.distributed.tensor import DTensor


def leaves(obj: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """(path, leaf) pairs in a deterministic order."""
    if isinstance(obj, dict):
        for key in sorted(obj, key=str):
            yield from leaves(obj[key], f"{path}/{key}")
    elif isinstance(obj, (list, tuple)):
        for index, item in enumerate(obj):
            yield from leaves(item, f"{path}/{index}")
    else:
        yield path or "/", obj


def local_tensors(value: Any) -> list[torch.Tensor]:
    """The tensors of one leaf that this rank holds: a DTensor's local tensor, a ShardedTensor's local shards."""
    if isinstance(value, DTensor):
        return [value.to_local()]
    if ShardedTensor and isinstance(value, ShardedTensor):
        return [shard.tensor for shard in value.local_shards()]
    if isinstance(value, torch.Tensor):
        return [value]
    return []


def _global_numel(value: Any) -> int:
    if isinstance(value, DTensor) or (ShardedTensor and isinstance(value, ShardedTensor)):
        return int(torch.Size(value.size()).numel())
    return value.numel()


def _element_size(value: Any) -> int:
    if ShardedTensor and isinstance(value, ShardedTensor):
        return torch.empty((), dtype=value.metadata().tensor_properties.dtype).element_size()
    return value.element_size()


def state_bytes(obj: Any) -> tuple[int, int]:
    """(logical bytes of the whole state, bytes this rank holds). A plain tensor counts once in the logical size:
    in a full state dict every rank holding it holds a copy of the same logical tensor."""
    global_bytes = local_bytes = 0
    for _, value in leaves(obj):
        if not isinstance(value, torch.Tensor):
            continue
        size = _element_size(value)
        global_bytes += _global_numel(value) * size
        local_bytes += sum(t.numel() for t in local_tensors(value)) * size
    return global_bytes, local_bytes


def tensor_count(obj: Any) -> int:
    return sum(1 for _, value in leaves(obj) if isinstance(value, torch.Tensor))


def snapshot(obj: Any) -> dict[str, Any]:
    """A detached copy of every leaf this rank holds, keyed by path: what the state was, to compare against later."""
    copied: dict[str, Any] = {}
    for path, value in leaves(obj):
        if isinstance(value, torch.Tensor):
            copied[path] = [t.detach().clone().cpu() for t in local_tensors(value)]
        else:
            copied[path] = value
    return copied


def first_difference(expected: dict[str, Any], actual_obj: Any) -> str | None:
    """None when actual_obj holds exactly what `expected` (a snapshot) holds, else a one-line description."""
    actual = snapshot(actual_obj)
    if expected.keys() != actual.keys():
        missing = sorted(expected.keys() - actual.keys())[:3]
        extra = sorted(actual.keys() - expected.keys())[:3]
        return f"keys differ: missing {missing}, unexpected {extra}"
    for path, want in expected.items():
        got = actual[path]
        if isinstance(want, list) and want and isinstance(want[0], torch.Tensor):
            if len(want) != len(got) or not all(
                    w.shape == g.shape and w.dtype == g.dtype and torch.equal(w, g) for w, g in zip(want, got)):
                return f"values differ at {path}"
        elif want != got:
            return f"values differ at {path}: {want!r} != {got!r}"
    return None


@torch.no_grad()
def perturb_(tensors: Iterator[torch.Tensor]) -> int:
    """Add 1 to every floating tensor so a load that does nothing cannot pass the equality check."""
    count = 0
    for tensor in tensors:
        for local in local_tensors(tensor):
            if local.is_floating_point() and local.numel():
                local.add_(1.0)
                count += 1
    return count


def perturb_model_(model: torch.nn.Module) -> int:
    return perturb_(iter(model.parameters()))


def perturb_optimizer_(optim: torch.optim.Optimizer) -> int:
    return perturb_(value for state in optim.state.values() for value in state.values()
                    if isinstance(value, torch.Tensor))
