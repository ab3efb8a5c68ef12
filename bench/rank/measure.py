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

from bench.machine.host_memory import PeakRSS, rss_bytes
from bench.metrics import METRICS, Meter
from bench.ops.context import RankContext
from bench.ops.base import Operation
from bench.rank.planted import spin_after
from bench.config.profiles import RoundSettings
from bench.rank.pacing import REWARM_ROUNDS, RoundPacer, round_pacer


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
    """How many times the op had run (warm-ups and a paced run's discarded rounds included) when each measured
    round ended: the x of the RSS slope, so that growth is per save whichever rounds were measured."""
    metrics: dict[str, list] = field(default_factory=dict)
    """Per measured round, each meter's value (bench/metrics: CPU time, I/O counters, instructions), by the
    metric's reply key; wall time is times_s."""
    spans_s: dict[str, float] = field(default_factory=dict)
    """Where this rank's time in run_rounds went (warm-up, measured rounds, their timed part, the memory round, a
    paced run's waits for its turn): the run's wall-time accounting (bench/results/wall_accounting.py)."""


@dataclass
class TimedRound:
    seconds: float
    result: object
    metrics: dict[str, object]
    """Each meter's value over the op, by the metric's reply key."""


def _round_max(ctx: RankContext, seconds: float) -> float:
    value = torch.tensor([seconds], dtype=torch.float64, device=ctx.device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return float(value.item())


def _timed_op(op: Operation, ctx: RankContext, planted: float = 0.0) -> TimedRound:
    """One round from the barrier to t1. The meters (bench/metrics) are read just outside t0..t1 so that reading
    them costs the wall time nothing. `planted`: calibrate's known slowdown (bench/rank/planted.py), 0 in any other
    run."""
    op.phases, op.details = {}, {}
    meters = _meters()
    ctx.synchronize()  # device work the untimed preparation queued (e.g. a state copied on the GPU) ends before t0
    dist.barrier()
    gc.disable()
    try:
        for _, meter in meters:
            meter.start()
        t0 = time.perf_counter()
        result = op.run()
        ctx.synchronize()
        spin_after(t0, planted)
        t1 = time.perf_counter()
        values = {key: meter.stop() for key, meter in reversed(meters)}
    finally:
        gc.enable()
    return TimedRound(t1 - t0, result, values)


@functools.cache
def _meters() -> list[tuple[str, Meter]]:
    """This rank's meter of every metric that has one, by reply key, in bench.metrics.METRICS's order."""
    return [(metric.reply_key, metric.meter()) for metric in METRICS if metric.meter is not None]


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
    pacer = round_pacer()  # None but in a paced run (compare mode): bench/rank/pacing.py
    blocks_done = 0
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
        for key, value in timed.metrics.items():
            samples.metrics.setdefault(key, []).append(value)
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
        if pacer is not None and done % pacer.block_rounds == 0:
            mark = _add(spans, "rounds", mark)
            blocks_done += 1
            op_runs += _wait_turn(op, ctx, pacer, blocks_done)
            mark = _add(spans, "other_side", mark)


def _wait_turn(op: Operation, ctx: RankContext, pacer: RoundPacer, blocks_done: int) -> int:
    """A paced run: let the others go, wait for this rank's next turn, then run REWARM_ROUNDS discarded rounds
    (bench/rank/pacing.py says why); returns how many times the op ran."""
    pacer.hand_over(ctx.rank, blocks_done)
    dist.barrier()
    for _ in range(REWARM_ROUNDS):
        _round(op, ctx)
    return REWARM_ROUNDS


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
