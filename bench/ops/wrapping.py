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


def apply_tensor_parallel(model: nn.Module, ctx: RankContext) -> None:
    """torchtitan's tensor-parallel plan for Llama over the mesh's second dimension: attention and FFN inputs
    column-wise, their outputs row-wise, the embedding row-wise, the output projection column-wise, norms
    replicated (sequence parallel). Applied on the meta device, so no weight moves."""
    from torch.distributed.tensor.parallel import (ColwiseParallel, RowwiseParallel, SequenceParallel,
                                                   parallelize_module)

    if len(ctx.mesh_shape) != 2 or not hasattr(model, "tok_embeddings"):
        raise ValueError("tensor parallelism needs a 2D mesh (data parallel x tensor parallel) and a llama3 model")
    tp_mesh = ctx.mesh[ctx.mesh.mesh_dim_names[1]]
    parallelize_module(model, tp_mesh, {"tok_embeddings": RowwiseParallel(), "norm": SequenceParallel(),
                                        "output": ColwiseParallel()})
    for block in model.layers:
        if hasattr(block, "moe"):
            raise ValueError("the tensor-parallel plan covers dense llama3 blocks, not mixture-of-experts ones")
        parallelize_module(block, tp_mesh, {
            "attention_norm": SequenceParallel(), "ffn_norm": SequenceParallel(),
            "attention.wq": ColwiseParallel(), "attention.wk": ColwiseParallel(), "attention.wv": ColwiseParallel(),
            "attention.wo": RowwiseParallel(), "feed_forward.w1": ColwiseParallel(),
            "feed_forward.w2": RowwiseParallel(), "feed_forward.w3": ColwiseParallel()})


_SIMULATED_BUILD: dict[tuple, tuple] = {}
"""The last FSDP2 model + optimizer built in this simulated world, by (model, dtype, tensor_parallel)."""


def build_fsdp2(ctx: RankContext, model_name: str, *, tensor_parallel: bool = False):
    """As _build_fsdp2; a simulated world keeps the last model it built and hands it to the next case that asks for
    the same one. fully_shard's own setup costs O(world size x tensors) on every rank (it cuts each tensor into as
    many chunks as ranks): for Llama-3 405B at 16,384 simulated ranks that is minutes, which the four get/set ops and
    the planning ops of one model and world would otherwise pay each. A set op leaves the state it loaded, which is
    the state it took, so the next case finds the model as built. The record's setup_s shows who paid."""
    if not ctx.simulated:
        return _build_fsdp2(ctx, model_name, tensor_parallel=tensor_parallel)
    key = (model_name, ctx.dtype, tensor_parallel, ctx.mesh_shape)
    if key not in _SIMULATED_BUILD:
        _SIMULATED_BUILD.clear()  # one model at a time (another model gets a fresh process: bench/run/session.py)
        _SIMULATED_BUILD[key] = _build_fsdp2(ctx, model_name, tensor_parallel=tensor_parallel)
    return _SIMULATED_BUILD[key]


def resident_bytes() -> int:
    """This process's resident memory now: a simulated rank's training state, its model build and what the case's
    setup added (the round's own peak is the record's peak_rss_bytes)."""
    import psutil

    return psutil.Process().memory_info().rss


def _build_fsdp2(ctx: RankContext, model_name: str, *, tensor_parallel: bool = False):
    """FSDP2 `fully_shard` on each unit and the root, on the world's mesh (HSDP on a 2D one). `tensor_parallel`:
    the 2D mesh is (data parallel, tensor parallel) instead: the model is first split by torchtitan's Llama plan
    over the second dimension, then sharded over the first (DTensors with two placements).
    Returns (model, optimizer)."""
    from torch.distributed.fsdp import fully_shard

    spec = get_model_spec(model_name)
    model = build_on_meta(spec, ctx.dtype)
    example = model.example_input(ctx.device, ctx.dtype)
    mesh = ctx.mesh
    if tensor_parallel:
        apply_tensor_parallel(model, ctx)
        mesh = ctx.mesh[ctx.mesh.mesh_dim_names[0]]
    if spec.wrap_unit_types:
        for module in list(model.modules()):
            if module is not model and isinstance(module, spec.wrap_unit_types):
                fully_shard(module, mesh=mesh)
    fully_shard(model, mesh=mesh)
    materialize_dtensors_(model, ctx.device, ctx.seed, shard_local_rank=ctx.rank if ctx.simulated else None)
    optim = _adam(model)
    if ctx.simulated:  # a forward would all-gather uninitialised memory
        local_optimizer_step(model, optim)
    else:
        train_step(model, optim, example)
    return model, optim
