"""The rank process: joins the world once, then runs the cases the parent sends until told to stop."""

from __future__ import annotations

import importlib
import re
import signal
import time
import traceback
import warnings
from typing import Any

import torch
import torch.distributed as dist

from bench.ops.context import RankContext, torch_dtype
from bench.rank.measure import freeze_persistent, run_rounds
from bench.ops.registry import Unsupported, make_operation
from bench.machine.lifetime import die_with_parent
from bench.machine.placement import apply_placement
from bench.rank.planted import planted_fraction
from bench.config.profiles import RoundSettings
from bench.ops.state_tree import state_bytes, tensor_count

# torch's words when it refuses a combination rather than failing at it.
_REFUSAL = re.compile(
    r"not supported|does not support|unsupported|not implemented|only supports|is not allowed|not compatible"
    r"|incompatible", re.IGNORECASE)


def is_refusal(exc: BaseException) -> bool:
    if isinstance(exc, (Unsupported, NotImplementedError)):
        return True
    return isinstance(exc, (RuntimeError, ValueError, AssertionError, TypeError)) and bool(_REFUSAL.search(str(exc)))


def short_traceback(exc: BaseException, limit_chars: int = 1500) -> str:
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return text if len(text) <= limit_chars else "..." + text[-limit_chars:]


def make_context(rank: int, world_size: int, mesh_shape: tuple[int, ...],
                 local_rank: int | None = None) -> RankContext:
    """`local_rank` picks the GPU where ranks span nodes (a launched world); by default the global rank does."""
    from torch.distributed.device_mesh import init_device_mesh

    if torch.cuda.is_available():
        device = torch.device("cuda", (rank if local_rank is None else local_rank) % torch.cuda.device_count())
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    names = ("replicate", "shard") if len(mesh_shape) == 2 else ("shard",)
    ctx = RankContext(rank=rank, world_size=world_size, mesh_shape=mesh_shape, device=device,
                      backend=dist.get_backend())
    ctx.mesh = init_device_mesh(device.type, mesh_shape, mesh_dim_names=names)
    return ctx


def execute_case(ctx: RankContext, spec: dict[str, Any], settings: RoundSettings) -> dict[str, Any]:
    """Run one case on this rank; never raises. The reply is this rank's part of the case's record."""
    reply: dict[str, Any] = {"rank": ctx.rank, "status": "ok", "message": "", "correct": None}
    started = time.perf_counter()
    try:
        ctx.dtype = torch_dtype(spec["options"].get("dtype"))  # the models ops build take it from ctx
        op = make_operation(ctx, spec)
        op.setup()
        reply["setup_s"] = time.perf_counter() - started
        reply["planted_slowdown"] = planted_fraction(spec["api"], spec["op"]) or None  # calibrate only
        samples, last_result = run_rounds(op, ctx, settings, reply["planted_slowdown"] or 0.0)
        checks_began = time.perf_counter()
        reply["correct"] = op.verify(last_result)
        counted = op.counted_state(last_result)
        reply["bytes_global"], reply["bytes_local"] = state_bytes(counted)
        reply["tensors"] = tensor_count(counted)
        samples.spans_s["checks"] = time.perf_counter() - checks_began
        reply.update(times_s=samples.times_s, peak_rss_bytes=samples.peak_rss_bytes,
                     peak_cuda_allocated_bytes=samples.peak_cuda_allocated_bytes,
                     peak_cuda_reserved_bytes=samples.peak_cuda_reserved_bytes, phases_s=samples.phases_s,
                     details_s=samples.details_s, rss_after_round_bytes=samples.rss_after_round_bytes,
                     op_runs_before_round=samples.op_runs_before_round, **samples.metrics,
                     spans_s={"setup": reply["setup_s"], **samples.spans_s},
                     effective_options=op.effective_options, notes=op.notes, extra=op.extra)
    except Exception as exc:  # a rank must answer whatever torch does; the parent decides what it means
        reply["status"] = "unsupported" if is_refusal(exc) else "error"
        reply["message"] = f"{type(exc).__name__}: {exc}".strip()[:2000]
        reply["traceback"] = short_traceback(exc)
    return reply


def answer_case(ctx: RankContext, spec: dict[str, Any], settings: RoundSettings) -> dict[str, Any]:
    """execute_case, then the collection of what the case left (its objects are released once it returns), timed:
    the reply's `cleanup_s` and `rank_case_s` (from the case's arrival to its reply) are parts of the run's
    wall-time accounting."""
    began = time.perf_counter()
    reply = execute_case(ctx, spec, settings)
    reply["cleanup_s"] = freeze_persistent()
    reply["rank_case_s"] = time.perf_counter() - began
    return reply


def call_function(ctx: RankContext, target: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Run `module:function`(ctx, **kwargs) on this rank: lets the suite's tests check things inside a world."""
    module_name, function_name = target.split(":")
    try:
        value = getattr(importlib.import_module(module_name), function_name)(ctx, **kwargs)
        return {"rank": ctx.rank, "status": "ok", "value": value}
    except Exception as exc:
        return {"rank": ctx.rank, "status": "error", "message": f"{type(exc).__name__}: {exc}",
                "traceback": short_traceback(exc)}


def allow_children() -> None:
    """A rank is started as a daemon so that it never outlives the parent's interpreter, but multiprocessing forbids
    daemons to have children, and DCP's process-based async_save starts one (itself a daemon, ended with the rank)."""
    import multiprocessing

    multiprocessing.current_process()._config["daemon"] = False


def stop_checkpoint_process() -> None:
    """DCP's process-based async_save keeps one background process per rank for the rank's life; ask it to leave
    before the rank does (left alone it dies on a closed pipe and prints a traceback)."""
    try:
        from torch.distributed.checkpoint import _async_process_executor as executor
    except ImportError:
        return
    process = getattr(executor, "_CHECKPOINT_PROCESS", None)
    if process is not None:
        executor._CHECKPOINT_PROCESS = None
        process.__del__()  # torch's own shutdown: a terminate message, a join, SIGTERM if needed


def process_group_backend() -> str:
    """The backend a real world's ranks use (the parent names it when it starts them)."""
    return "nccl" if torch.cuda.is_available() else "gloo"


def rank_main(rank: int, world_size: int, mesh_shape: tuple[int, ...], store_port: int | None, conn,
              simulated: bool = False, placement: dict | None = None) -> None:
    """`placement`: the parent's choice of threads and pinning (bench/machine/placement.py), passed in because a rank
    forked from the fork server has the server's environment, not the parent's of now."""
    die_with_parent()  # no rank outlives its run, even one killed by SIGKILL
    allow_children()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it stops the world
    warnings.simplefilter("ignore")  # torch's deprecation warnings, once per rank per case, would bury the output
    if simulated:  # the only process of its world: it has the machine's cores to itself
        from bench.rank.simulated import init_fake_process_group

        placed = apply_placement(0, 1, placement)
        init_fake_process_group(rank, world_size)
    else:
        placed = apply_placement(rank, world_size, placement)
        backend = process_group_backend()
        store = dist.TCPStore("127.0.0.1", store_port, world_size, is_master=False)
        dist.init_process_group(backend, store=store, rank=rank, world_size=world_size)
    ctx = make_context(rank, world_size, tuple(mesh_shape))
    freeze_persistent()
    conn.send({"ready": True, "rank": rank, "threads": placed["threads"], "cpus": placed["cpus"],
               "backend": ctx.backend, "device": ctx.device.type, "dtype": str(ctx.dtype).removeprefix("torch."),
               "simulated": simulated})
    try:
        while True:
            message = conn.recv()
            if message["command"] == "stop":
                break
            if message["command"] == "case":
                conn.send(answer_case(ctx, message["spec"], message["settings"]))
            elif message["command"] == "call":
                conn.send(call_function(ctx, message["target"], message["kwargs"]))
    except (EOFError, BrokenPipeError):
        pass  # the parent is gone: nothing to report to
    finally:
        stop_checkpoint_process()
        dist.destroy_process_group()
