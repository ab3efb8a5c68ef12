"""Deterministic weights that do not depend on how the model is sharded.

Every parameter's values come from a generator seeded by (seed, its fully qualified name), so FSDP1, FSDP2 and an
unsharded copy of the same model hold the same numbers. Models are built on the meta device and filled one tensor
at a time: a rank never holds the whole model unsharded, only its shard plus the tensor being filled.
"""

from __future__ import annotations

import math
import zlib
from functools import lru_cache

import torch
from torch import nn

from models.zoo import ModelSpec


def _uniform(name: str, shape: torch.Size, global_shape: torch.Size, dtype: torch.dtype,
             generator_seed: int) -> torch.Tensor:
    """Values of the scale a parameter named `name` of `global_shape` gets: norms 1, biases small, weights
    1/sqrt(fan_in)."""
    leaf = name.rsplit(".", 1)[-1]
    if "norm" in name and leaf == "weight":
        return torch.ones(shape, dtype=dtype)
    bound = 0.01 if leaf == "bias" or len(global_shape) < 2 else 1.0 / math.sqrt(global_shape[-1])
    generator = torch.Generator().manual_seed(generator_seed)
    return (torch.rand(shape, generator=generator, dtype=torch.float32) * 2 - 1).mul_(bound).to(dtype)


def full_value(name: str, shape: torch.Size, dtype: torch.dtype, seed: int) -> torch.Tensor:
    """The unsharded initial value of parameter `name`, on CPU."""
    return _uniform(name, shape, shape, dtype, seed * 1_000_003 + zlib.crc32(name.encode()))


def shard_value(name: str, local_shape: torch.Size, global_shape: torch.Size, dtype: torch.dtype, seed: int,
                rank: int) -> torch.Tensor:
    """A rank's own initial values of its shard, drawn without the full value: the values depend on the sharding,
    which only a simulated world may accept (it never compares with an unsharded copy), and a 405B model's full
    tensors (3.5 GB for one FFN weight) are never computed."""
    return _uniform(name, local_shape, global_shape, dtype,
                    (seed * 1_000_003 + zlib.crc32(name.encode())) * 65_537 + rank)


def build_on_meta(spec: ModelSpec, dtype: torch.dtype) -> nn.Module:
    with torch.device("meta"):
        return spec.construct().to(dtype)


def qualified_names(root: nn.Module) -> dict[int, str]:
    """id(module) -> its prefix in root's parameter names; taken before wrapping, which renames modules."""
    return {id(module): (name + "." if name else "") for name, module in root.named_modules()}


def materialize_module_(module: nn.Module, prefix: str, device: torch.device, seed: int) -> None:
    """Allocate and fill `module`'s own (non-recursive) parameters and buffers; FSDP1's param_init_fn contract."""
    module.to_empty(device=device, recurse=False)
    with torch.no_grad():
        for local_name, param in module.named_parameters(recurse=False):
            param.copy_(full_value(prefix + local_name, param.shape, param.dtype, seed))


def materialize_(root: nn.Module, device: torch.device, seed: int) -> None:
    """Fill a whole unsharded model built on meta."""
    prefixes = qualified_names(root)
    for module in root.modules():
        materialize_module_(module, prefixes[id(module)], device, seed)


def materialize_dtensors_(root: nn.Module, device: torch.device, seed: int, *, shard_local_rank: int | None = None
                          ) -> None:
    """Fill a model whose parameters are DTensors (FSDP2 applied on meta): each rank copies only its own shard.
    `shard_local_rank`: draw each shard on its own as that rank (shard_value) instead of cutting it from the full
    value; for simulated worlds."""
    from torch.distributed.tensor import DTensor, distribute_tensor

    root.to_empty(device=device)
    with torch.no_grad():
        for name, param in root.named_parameters():
            if shard_local_rank is not None:
                local = param.to_local() if isinstance(param, DTensor) else param
                local.copy_(shard_value(name, local.shape, param.shape, param.dtype, seed, shard_local_rank))
                continue
            value = full_value(name, param.shape, param.dtype, seed)
            if isinstance(param, DTensor):
                # Every rank computed the same full value, so each cuts its own shard from it (src_data_rank=None)
                # instead of receiving it from rank 0: no collective, which a simulated (fake) world could not run.
                shard = distribute_tensor(value.to(device), param.device_mesh, param.placements,
                                          src_data_rank=None).to_local()
                param.to_local().copy_(shard)
            else:
                param.copy_(value)


@lru_cache(maxsize=None)
def model_facts(model: str | None) -> tuple[int | None, bool | None]:
    """(parameter count of the unsharded model, uneven) without allocating it."""
    if model is None:
        return None, None
    from models.zoo import get_model_spec

    spec = get_model_spec(model)
    return sum(p.numel() for p in build_on_meta(spec, torch.float32).parameters()), spec.uneven
