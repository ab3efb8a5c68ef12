"""The round loop that runs on every rank: warm-up, timed rounds, then one memory round, under DESIGN.md's protocol.

Each timed round: per-round untimed preparation, gc.collect(1), barrier, t0, op, device sync, t1, with GC off in
between. After each round the ranks agree on the round's max time (an all-reduce outside the timed region) so every
rank takes the same decision to stop, within the profile's round count and time budget.

Memory is measured in one more round, untimed, after the timed ones: freed heap pages are first handed back to the
OS so the op's own allocations show as RSS growth. Doing that inside the timed rounds would charge each of them the
page faults of a cold heap, which a steady-state repeat of the op does not pay.
"""

from __future__ import annotations

import functools
import gc
import time
from dataclasses import dataclass, field

import torch
import torch.distributed as dist

from bench.rank.context import RankContext
from bench.machine.host_memory import PeakRSS, rss_bytes
from bench.rank.instructions import InstructionCounter
from bench.ops.base import Operation
from bench.rank.planted import spin_after
from bench.config.profiles import RoundSettings
from bench.rank.round_costs import cpu_seconds, io_counters, io_delta
from bench.rank.turns import TurnClient, config_from_env, rank_client


@dataclass
class RankSamples:
    times_s: list[float] = field(default_factory=list)
    """This rank's t1 - t0 per measured round."""
    peak_rss_bytes: int | None = None
    """This rank's peak RSS during the memory round over its RSS before it; None where it cannot be read."""
    peak_cuda_allocated_bytes: int | None = None
    peak_cuda_reserved_bytes: int | None = None
    phases_s: list[dict[str, float]] = field(default_factory=list)
    """Per measured round, the op's own breakdown of its time (e.g. plan, write, fsync); empty dicts where it has
    none."""
    details_s: list[dict[str, float]] = field(default_factory=list)
    """Per measured round, the op's figures inside the round that need not add up (see Operation.details)."""
    rss_after_round_bytes: list[int | None] = field(default_factory=list)
    """This rank's RSS after each measured round: growth across repeated saves shows a leak as a number."""
    op_runs_before_round: list[int] = field(default_factory=list)
    """How many times the op had run (warm-ups and compare mode's discarded rounds included) when each measured
    round ended: the x of the RSS slope, so that growth is per save whichever rounds were measured."""
    cpu_s: list[float] = field(default_factory=list)
    """This rank's CPU time (user + system, all threads) over t0..t1 per measured round (bench/rank/round_costs.py)."""
    io_bytes: list[dict[str, int]] = field(default_factory=list)
    """This rank's /proc/self/io deltas over t0..t1 per measured round; empty dicts where it cannot be read."""
    instructions: list[int | None] = field(default_factory=list)
    """Instructions this rank executed in the op per measured round, under callgrind (bench/rank/instructions.py);
    None outside instructions mode."""
    spans_s: dict[str, float] = field(default_factory=dict)
    """Where this rank's time in run_rounds went (warm-up, measured rounds, their timed part, the memory round,
    compare mode's waits for the other side): the run's wall-time accounting (bench/results/wall_accounting.py)."""


@dataclass
class TimedRound:
    seconds: float
    cpu_s: float
    io_bytes: dict[str, int]
    result: object
    instructions: int | None = None


def _round_max(ctx: RankContext, seconds: float) -> float:
    value = torch.tensor([seconds], dtype=torch.float64, device=ctx.device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return float(value.item())


def _timed_op(op: Operation, ctx: RankContext, planted: float = 0.0) -> TimedRound:
    """One round from the barrier to t1. CPU time and I/O counters are read just outside t0..t1 so that reading
    them costs the wall time nothing. `planted`: calibrate's known slowdown (bench/rank/planted.py), 0 in any other
    run."""
    op.phases, op.details = {}, {}
    counter = _instruction_counter()
    ctx.synchronize()  # device work the untimed preparation queued (e.g. a state copied on the GPU) ends before t0
    dist.barrier()
    gc.disable()
    try:
        io0, c0 = io_counters(), cpu_seconds()
        counter.start()
        t0 = time.perf_counter()
        result = op.run()
        ctx.synchronize()
        spin_after(t0, planted)
        t1 = time.perf_counter()
        instructions = counter.stop()
        c1, io1 = cpu_seconds(), io_counters()
    finally:
        gc.enable()
    return TimedRound(t1 - t0, c1 - c0, io_delta(io0, io1), result, instructions)


@functools.cache
def _instruction_counter() -> InstructionCounter:
    return InstructionCounter()


def _add(spans: dict[str, float], name: str, since: float) -> float:
    """Adds the seconds since `since` to spans[name]; returns now, the start of the next span."""
    now = time.perf_counter()
    spans[name] = spans.get(name, 0.0) + now - since
    return now


def run_rounds(op: Operation, ctx: RankContext, settings: RoundSettings, planted: float = 0.0):
    """Returns (samples, result of the memory round). `planted`: calibrate's slowdown, into the measured rounds."""
    samples = RankSamples()
    # The rank's persistent objects (torch's modules and the like) are frozen between cases (freeze_persistent), so
    # a full collection (the memory round's) walks only what this case built and its rounds made: one over all of
    # torch's objects costs ~0.1 s, more than many ops, and once per case it was a tenth of a quick run's wall time.
    _timed_rounds(op, ctx, settings, samples, planted)
    began = time.perf_counter()
    result = _memory_round(op, ctx, samples)
    _add(samples.spans_s, "memory_round", began)
    return samples, result


def freeze_persistent() -> float:
    """Collects what the last case left and freezes what survives (imports, caches: what lives as long as the rank)
    out of the collector's way; returns the seconds it took. Called when a rank starts and after each case, once
    the case's objects are released."""
    began = time.perf_counter()
    gc.collect()
    gc.freeze()
    return time.perf_counter() - began


def _round(op: Operation, ctx: RankContext, planted: float = 0.0) -> tuple[TimedRound, float]:
    """One round as every round runs, kept or discarded: the op's untimed preparation, the timed op, then the
    all-reduce of its time, (this rank's round, the slowest rank's seconds). That all-reduce also closes the round:
    an op's next preparation may remove what this round wrote (a save's folder), which is safe only once every rank
    is done."""
    op.before_round()
    # The previous round's objects are young (GC is off in the op, so they sit in generation 0 or 1 now): a
    # collection of the young generations frees its cycles, without walking the case's setup objects (generation 2
    # by now) again each round, as a full collection would: that made round preparation a tenth of a quick run.
    gc.collect(1)
    timed = _timed_op(op, ctx, planted)
    timed.result = None  # the next round must not start with this one's output still held
    return timed, _round_max(ctx, timed.seconds)


def _timed_rounds(op: Operation, ctx: RankContext, settings: RoundSettings, samples: RankSamples,
                  planted: float) -> None:
    measured_s = 0.0
    warmups_left = settings.warmup_rounds
    turns = rank_client() if config_from_env() else None  # compare mode only (bench/rank/turns.py)
    switches = 0
    op_runs = 0
    spans = samples.spans_s
    mark = time.perf_counter()
    while True:
        timed, slowest = _round(op, ctx, planted if not warmups_left else 0.0)
        op_runs += 1
        if warmups_left:
            warmups_left -= 1
            mark = _add(spans, "warmup", mark)
            continue
        samples.times_s.append(timed.seconds)
        samples.cpu_s.append(timed.cpu_s)
        samples.io_bytes.append(timed.io_bytes)
        samples.instructions.append(timed.instructions)
        samples.phases_s.append(dict(op.phases))
        samples.details_s.append(dict(op.details))
        samples.rss_after_round_bytes.append(rss_bytes())
        samples.op_runs_before_round.append(op_runs)
        measured_s += slowest
        spans["timed"] = spans.get("timed", 0.0) + slowest  # the part of "rounds" inside t0..t1 (slowest rank)
        done = len(samples.times_s)
        if done >= settings.max_rounds or (done >= settings.min_rounds and measured_s >= settings.budget_s):
            _add(spans, "rounds", mark)
            return
        if turns is not None and done % turns.block_rounds == 0:
            mark = _add(spans, "rounds", mark)
            switches += 1
            _switch_sides(op, ctx, turns, switches)
            op_runs += 1  # its discarded round
            mark = _add(spans, "other_side", mark)


def _switch_sides(op: Operation, ctx: RankContext, turns: TurnClient, switches: int) -> None:
    """Compare mode: hand the turn to the other side for its block, wait for the next, then run one discarded
    round: the other side's block left the caches cold, which a round of an ordinary run does not find."""
    if ctx.rank == 0:
        turns.release()
        turns.acquire()
    else:
        turns.await_turn(switches + 1)  # the parent's turn for the case is the first
    dist.barrier()
    _round(op, ctx)


def _memory_round(op: Operation, ctx: RankContext, samples: RankSamples):
    peak_rss = PeakRSS()
    op.before_round()
    gc.collect()
    if ctx.is_cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(ctx.device)
    peak_rss.begin()
    result = _timed_op(op, ctx).result
    samples.peak_rss_bytes = peak_rss.end()
    if ctx.is_cuda:
        samples.peak_cuda_allocated_bytes = torch.cuda.max_memory_allocated(ctx.device)
        samples.peak_cuda_reserved_bytes = torch.cuda.max_memory_reserved(ctx.device)
    return result
