"""The round loop that runs on every rank: warm-up, then timed rounds under the protocol of DESIGN.md.

Each round: per-round untimed preparation, gc.collect(), memory baselines, barrier, t0, op, device sync, t1, GC
back on, memory peaks. After each round the ranks agree on the round's max time (an all-reduce outside the timed
region) so every rank takes the same decision to stop, within the profile's round count and time budget.
"""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass, field

import torch
import torch.distributed as dist

from bench.context import RankContext
from bench.host_memory import PeakRSS
from bench.ops.base import Operation
from bench.profiles import RoundSettings


@dataclass
class RankSamples:
    times_s: list[float] = field(default_factory=list)
    """This rank's t1 - t0 per measured round."""
    peak_rss_bytes: list[int | None] = field(default_factory=list)
    """This rank's peak RSS over its RSS before the op, per measured round."""
    peak_cuda_allocated_bytes: list[int] = field(default_factory=list)
    peak_cuda_reserved_bytes: list[int] = field(default_factory=list)


def _round_max(ctx: RankContext, seconds: float) -> float:
    value = torch.tensor([seconds], dtype=torch.float64, device=ctx.device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return float(value.item())


def run_rounds(op: Operation, ctx: RankContext, settings: RoundSettings):
    """Returns (samples, result of the last round)."""
    samples = RankSamples()
    peak_rss = PeakRSS()
    # What setup built lives through the whole case: freezing it keeps each round's gc.collect() to the objects
    # the rounds themselves make (a full collection with torch loaded costs ~0.1 s, more than many ops).
    gc.collect()
    gc.freeze()
    try:
        return _rounds(op, ctx, settings, samples, peak_rss)
    finally:
        gc.unfreeze()


def _rounds(op: Operation, ctx: RankContext, settings: RoundSettings, samples: RankSamples, peak_rss: PeakRSS):
    measured_s = 0.0
    warmups_left = settings.warmup_rounds
    result = None
    while True:
        op.before_round()
        result = None  # drop the previous round's output so it is not counted in this round's memory
        gc.collect()
        if ctx.is_cuda:
            torch.cuda.reset_peak_memory_stats(ctx.device)
        peak_rss.begin()
        dist.barrier()
        gc.disable()
        try:
            t0 = time.perf_counter()
            result = op.run()
            ctx.synchronize()
            t1 = time.perf_counter()
        finally:
            gc.enable()
        op_peak = peak_rss.end()
        seconds = t1 - t0
        slowest = _round_max(ctx, seconds)
        if warmups_left:
            warmups_left -= 1
            continue
        samples.times_s.append(seconds)
        samples.peak_rss_bytes.append(op_peak)
        if ctx.is_cuda:
            samples.peak_cuda_allocated_bytes.append(torch.cuda.max_memory_allocated(ctx.device))
            samples.peak_cuda_reserved_bytes.append(torch.cuda.max_memory_reserved(ctx.device))
        measured_s += slowest
        done = len(samples.times_s)
        if done >= settings.max_rounds or (done >= settings.min_rounds and measured_s >= settings.budget_s):
            return samples, result
