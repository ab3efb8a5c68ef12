"""Runs of a benchmark matrix with the noise measured on the 2-core VM (../shared/DESIGN.md, "Noise facts"), built
directly as per-case samples (analysis.case_samples.CaseSide), so that hundreds of simulated comparisons run in
seconds.

- A case's run-to-run sd of log medians is lognormal across cases: median 9.4%, 90th percentile 20%.
- Compare mode's passes move both sides together: two thirds of a run's variance is the pass's (shared by A and B
  in that pass), which makes the sd of the paired log ratio about 0.58 of the unpaired one (10.8% against 18.5%).
- 5% of cases are bimodal across processes: a pass lands in a slow mode (+60%) half the time, on both sides alike.
- Peak RSS per rank: 2% run-to-run sd around a per-case level, for each of two ranks.
- Optionally (`within=True`), each run carries what its rounds predict of its variance: WITHIN_SHARE of the
  run's own (unshared) variance, estimated from WITHIN_DF degrees of freedom, as compare mode's 6 rounds give.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from analysis.case_samples import CASE_FIELDS, MEMORY_OFFSET_BYTES, CaseSide
from analysis.run_tests import RunSamples

RUN_SD_MEDIAN = 0.094
RUN_SD_P90 = 0.20
SHARED_SHARE = 2 / 3
BIMODAL_SHARE = 0.05
BIMODAL_STEP = math.log(1.6)
MEMORY_SD = 0.02
RANKS = 2
WITHIN_SHARE = 0.5
WITHIN_DF = 5


@dataclass(frozen=True)
class Matrix:
    """The truth of a simulated matrix: each case's level and noise."""
    medians_s: np.ndarray
    run_sd: np.ndarray
    bimodal: np.ndarray
    rss_bytes: np.ndarray

    @classmethod
    def draw(cls, rng: np.random.Generator, cases: int = 600) -> "Matrix":
        spread = math.log(RUN_SD_P90 / RUN_SD_MEDIAN) / 1.2816
        return cls(medians_s=np.geomspace(1e-3, 1.0, cases),
                   run_sd=RUN_SD_MEDIAN * np.exp(rng.normal(0, spread, cases)),
                   bimodal=rng.random(cases) < BIMODAL_SHARE, rss_bytes=rng.uniform(1, 500, (cases, RANKS)) * 2**20)


def _side(values: np.ndarray, keys: list[str], within: np.ndarray | None = None) -> RunSamples:
    return RunSamples(values={k: float(v) for k, v in zip(keys, values)},
                      pass_keys={k: k.split("/")[0] if k.startswith("pass") else None for k in keys},
                      within={} if within is None else {k: float(w) for k, w in zip(keys, within)})


def passes(matrix: Matrix, rng: np.random.Generator, runs: int, *, time_factor: np.ndarray | float = 1.0,
           rss_factor: np.ndarray | float = 1.0, paired: bool = True, within: bool = False) -> tuple[dict, dict]:
    """Base and new sides of a compare with `runs` passes (paired) or `runs` unpaired runs a side; new's times are
    multiplied by `time_factor` and rank 0's peak RSS by `rss_factor` (scalars or one per case); `within`: each run
    with its rounds' prediction of its variance."""
    cases = matrix.medians_s.size
    time_factor = np.broadcast_to(np.asarray(time_factor, dtype=float), (cases,))
    rss_factor = np.broadcast_to(np.asarray(rss_factor, dtype=float), (cases,))
    shared_sd, own_sd = matrix.run_sd * math.sqrt(SHARED_SHARE), matrix.run_sd * math.sqrt(1 - SHARED_SHARE)
    shared = rng.normal(0, 1, (runs, cases)) * shared_sd if paired else np.zeros((runs, cases))
    mode = (rng.random((runs, cases)) < 0.5) * matrix.bimodal * BIMODAL_STEP
    sides = []
    for side, factor in (("a", np.ones(cases)), ("b", time_factor)):
        own = rng.normal(0, 1, (runs, cases)) * (own_sd if paired else matrix.run_sd)
        side_mode = mode if paired else (rng.random((runs, cases)) < 0.5) * matrix.bimodal * BIMODAL_STEP
        logs = np.log(matrix.medians_s * factor) + shared + own + side_mode
        rss = matrix.rss_bytes[None, :, :] * np.exp(rng.normal(0, MEMORY_SD, (runs, cases, RANKS)))
        if side == "b":
            rss[:, :, 0] *= rss_factor
        keys = [f"pass{r + 1:02d}/{side}.json" if paired else f"{side}{r}.json" for r in range(runs)]
        spread = (WITHIN_SHARE * (own_sd if paired else matrix.run_sd) ** 2
                  * rng.chisquare(WITHIN_DF, (runs, cases)) / WITHIN_DF) if within else None
        sides.append({f"case{i}": _case(i, logs[:, i], rss[:, i, :], keys, None if spread is None else spread[:, i])
                      for i in range(cases)})
    return sides[0], sides[1]


def _case(i: int, logs: np.ndarray, rss: np.ndarray, keys: list[str], within: np.ndarray | None = None) -> CaseSide:
    fields = {name: None for name in CASE_FIELDS} | {"api": "fsdp2", "op": "get_optim", "world_size": RANKS}
    memory = {"peak_rss": {r: _side(np.log(rss[:, r] + MEMORY_OFFSET_BYTES), keys) for r in range(RANKS)},
              "peak_cuda": {}}
    return CaseSide(fields=fields, statuses=["ok"], runs=len(keys), time=_side(logs, keys, within),
                    run_medians_s=list(np.exp(logs)), rounds=6 * len(keys), memory=memory)


def history(matrix: Matrix, rng: np.random.Generator, nights: int, *, time_factor: float = 1.0,
            odd_night: float = 1.0) -> tuple[dict, dict]:
    """A nightly history of `nights` unpaired runs (the last one `odd_night` times slower in every case) and
    tonight's one run, `time_factor` times slower."""
    base, _ = passes(matrix, rng, nights, paired=False)
    if odd_night != 1.0:
        for side in base.values():
            key = list(side.time.values)[-1]
            side.time.values[key] += math.log(odd_night)
    _, new = passes(matrix, rng, 1, time_factor=time_factor, paired=False)
    return base, new
