"""Build a zoo model under FSDP1 or FSDP2 on a rank, and take one Adam step so optimizer state exists."""

from __future__ import annotations

import torch
from torch import nn

from bench.ops.context import RankContext
from models import get_model_spec
from models.init import build_on_meta, materialize_dtensors_, materialize_module_, qualified_names


def train_step(model: nn.Module, optim: torch.optim.Optimizer, example_input: torch.Tensor) -> None:
    loss = model(example_input).float().pow(2).mean()
    loss.backward()
    optim.step()
    optim.zero_grad(set_to_none=True)


@torch.no_grad()
def _set_local_gradients(model: nn.Module) -> None:
    """Gradients with the parameters' own sharding: each rank writes only its shard, no collective."""
    for param in model.parameters():
        grad = torch.zeros_like(param)
        for local in ([grad.to_local()] if hasattr(grad, "to_local") else [grad]):
            local.fill_(1e-3)
        param.grad = grad


def local_optimizer_step(model: nn.Module, optim: torch.optim.Optimizer) -> None:
    """One Adam step without a forward or backward, so the optimizer holds its state (step, exp_avg, exp_avg_sq)
    for every parameter, with finite values that a load can be checked against."""
    _set_local_gradients(model)
    optim.step()
    optim.zero_grad(set_to_none=True)


def _adam(model: nn.Module) -> torch.optim.Optimizer:
    return torch.optim.Adam(model.parameters(), lr=1e-3)


def build_fsdp1(ctx: RankContext, model_name: str, *, use_mesh: bool, use_orig_params: bool):
    """FSDP1 around the model, meshed (DTensor state dicts; HYBRID_SHARD on a 2D mesh) or on the default group
    (ShardedTensor state dicts). Returns (fsdp_model, optimizer)."""
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP, ShardingStrategy
    from torch.distributed.fsdp.wrap import ModuleWrapPolicy

    spec = get_model_spec(model_name)
    model = build_on_meta(spec, ctx.dtype)
    example = model.example_input(ctx.device, ctx.dtype)
    prefixes = qualified_names(model)
    kwargs: dict = dict(
        device_id=ctx.device,
        use_orig_params=use_orig_params,
        param_init_fn=lambda module: materialize_module_(module, prefixes[id(module)], ctx.device, ctx.seed),
    )
    if spec.wrap_unit_types:
        kwargs["auto_wrap_policy"] = ModuleWrapPolicy(set(spec.wrap_unit_types))
    if use_mesh:
        kwargs["device_mesh"] = ctx.mesh
        if len(ctx.mesh_shape) == 2:
            kwargs["sharding_strategy"] = ShardingStrategy.HYBRID_SHARD
    fsdp_model = FSDP(model, **kwargs)
    optim = _adam(fsdp_model)
    train_step(fsdp_model, optim, example)
    return fsdp_model, optim


def build_fsdp2(ctx: RankContext, model_name: str):
    """FSDP2 `fully_shard` on each unit and the root, on the world's mesh (HSDP on a 2D one).
    Returns (model, optimizer)."""
    from torch.distributed.fsdp import fully_shard

    spec = get_model_spec(model_name)
    model = build_on_meta(spec, ctx.dtype)
    example = model.example_input(ctx.device, ctx.dtype)
    if spec.wrap_unit_types:
        for module in list(model.modules()):
            if module is not model and isinstance(module, spec.wrap_unit_types):
                fully_shard(module, mesh=ctx.mesh)
    fully_shard(model, mesh=ctx.mesh)
    materialize_dtensors_(model, ctx.device, ctx.seed)
    optim = _adam(model)
    if ctx.simulated:  # a forward would all-gather uninitialised memory
        local_optimizer_step(model, optim)
    else:
        train_step(model, optim, example)
    return model, optim
