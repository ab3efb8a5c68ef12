"""Profiles: which meshes and models a run covers, and how long each case is measured."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from bench.ops.matrix import DTYPES
from bench.ops.simulations import Simulation
from models.catalog import model_entry


class UnknownProfileError(ValueError):
    """A profile name that does not exist."""


@dataclass(frozen=True, kw_only=True, slots=True)
class RoundSettings:
    warmup_rounds: int = 1
    """Rounds run and discarded before measuring (first-call allocations, lazy initialisation)."""
    min_rounds: int = 5
    """Rounds measured at the least, whatever the budget."""
    max_rounds: int = 50
    """Rounds measured at the most."""
    budget_s: float = 1.0
    """Measuring stops once min_rounds are done and the rounds' times add up to this."""
    case_timeout_s: float = 120.0
    """A case that takes longer than this (setup included) is ended as `timeout`, before scaling by model size."""

    def __post_init__(self) -> None:
        if self.warmup_rounds < 0:
            raise ValueError(f"warmup_rounds must be >= 0, got {self.warmup_rounds}")
        if self.min_rounds < 1:
            raise ValueError(f"min_rounds must be >= 1, got {self.min_rounds}")
        if self.max_rounds < self.min_rounds:
            raise ValueError(f"max_rounds ({self.max_rounds}) must be >= min_rounds ({self.min_rounds})")
        if self.budget_s < 0 or self.case_timeout_s <= 0:
            raise ValueError("budget_s must be >= 0 and case_timeout_s > 0")


@dataclass(frozen=True, kw_only=True, slots=True)
class Profile:
    name: str
    """quick | nightly | full | scale | scale-full | gpu."""
    mesh_shapes: tuple[tuple[int, ...], ...]
    """Worlds of the run: (n,) is a 1D mesh of n ranks, (r, s) a 2D mesh (replicate x shard)."""
    models: tuple[str, ...]
    """Zoo models measured on every mesh."""
    rounds: RoundSettings
    """How long each case is measured."""
    checkpoint_models: tuple[str, ...] | None = None
    """Models of the checkpoint (DCP, torch.save to files) cases; None: all of `models`; empty: none."""
    dtypes: tuple[str, ...] = ()
    """Parameter dtypes: every case with a model is measured once per dtype, with a case option `dtype`. Empty:
    float32 without that option, so that the case ids of the float32-only profiles stay what they were."""
    needs_cuda: bool = False
    """mesh_shapes are derived from the GPU count when the run starts (bench/config/gpu_profile.py); without CUDA the
    profile is refused."""
    limited_models: tuple[str, ...] = ()
    """Models measured only by the short case list of gpu_profile.LIMITED_CASES (their setup costs seconds)."""
    timeout_base_params: float = 10e6
    """Models up to this many parameters get case_timeout_s; a bigger one gets it scaled by its size over this."""

    simulated_models: tuple[str, ...] = ("transformer_1m",)
    """Models of the simulated cases (bench/results/schema.py SIMULATED_MEANING)."""
    simulated_fsdp2_ranks: tuple[int, ...] = ()
    """World sizes at which FSDP2's sharded get/set of model and optimizer state is simulated."""
    simulated_plan_ranks: tuple[int, ...] = ()
    """World sizes at which DCP's global save planning is simulated."""
    simulations: tuple[Simulation, ...] = ()
    """Simulated cases at the sizes users run: real model shapes, 256 to 16,384 ranks (bench/ops/matrix.py)."""
    host_memory_cap_gb: float | None = None
    """The run's host memory cap when --max-host-memory-gb is not given: a case estimated to need more is skipped
    with the reason (bench/config/memory_need.py). None: what the machine has available."""

    def __post_init__(self) -> None:
        simulated = tuple(model for simulation in self.simulations for model in simulation.models)
        for model in (self.models + (self.checkpoint_models or ()) + self.limited_models + self.simulated_models
                      + simulated):
            model_entry(model)
        if set(self.dtypes) - set(DTYPES):
            raise ValueError(f"unknown dtypes {sorted(set(self.dtypes) - set(DTYPES))}")


CPU_MESHES = ((1,), (2,), (4,), (2, 2))
SIMULATED_PLAN_RANKS = (8, 64, 256, 1024, 4096)

SCALE_RANKS = (256, 1024, 4096, 16384)
SCALE_SIMULATIONS = (
    Simulation(kind="state_dict", models=("llama3_8b", "llama3_70b", "llama3_405b"), ranks=SCALE_RANKS),
    Simulation(kind="state_dict", models=("llama3_8b", "llama3_405b"), ranks=SCALE_RANKS, layout="tp", group=8),
    Simulation(kind="state_dict", models=("llama3_8b",), ranks=SCALE_RANKS, layout="hsdp", group=64),
    Simulation(kind="state_dict", models=("moe_16b", "moe_16b_ungrouped"), ranks=(256, 1024)),
    # Planning over all 126 blocks of 405B at 16,384 ranks would hold ~42M chunks (far over 8 GiB): the depth-truncated
    # variants keep exact shapes, and the full 8B model checks that cost follows the tensor count. The global plan
    # costs ranks x tensors on the coordinator, and so does deriving a checkpoint's metadata for a load: at 16,384
    # ranks only the resharded load (from 8,192) is planned.
    Simulation(kind="planning", models=("llama3_405b_l1", "llama3_405b_l2", "llama3_405b_l4"),
               ranks=SCALE_RANKS[:-1], ops=("plan_local", "plan_load")),
    Simulation(kind="planning", models=("llama3_405b_l1", "llama3_405b_l2", "llama3_405b_l4"),
               ranks=SCALE_RANKS[-1:], ops=("plan_local", "plan_load"), load_from=(0.5,)),
    # the global plan's validation is quadratic in a tensor's chunks: one 405B block took 9.7 s a round at 4,096
    # ranks and over 10 minutes for its rounds at 16,384 (2026-12-07): 16,384 is in scale-full only
    Simulation(kind="planning", models=("llama3_405b_l1",), ranks=SCALE_RANKS[:-1], ops=("plan",)),
    Simulation(kind="planning", models=("llama3_405b_l2", "llama3_405b_l4"), ranks=(256,), ops=("plan",)),
    Simulation(kind="planning", models=("llama3_8b",), ranks=(256,)),
    Simulation(kind="planning", models=("llama3_8b",), ranks=(256, 1024), layout="hsdp", group=64,
               ops=("plan_load",)),
)
SCALE_FULL_SIMULATIONS = SCALE_SIMULATIONS + (
    # the coordinator's global plan at 16,384 ranks, which the scale profile's 15 minutes leave out: minutes a round
    # for one 405B block (the plan's validation checks every pair of a tensor's chunks when they all span its
    # longest dim: scripts/findings/validation_sweep.py counts them for any depth)
    Simulation(kind="planning", models=("llama3_405b_l1",), ranks=SCALE_RANKS[-1:], ops=("plan",)),
)
QUICK_SCALE_POINTS = (
    Simulation(kind="state_dict", models=("llama3_8b",), ranks=(4096,), ops=("get_model", "get_optim")),
    Simulation(kind="planning", models=("llama3_405b_l1",), ranks=(1024,), ops=("plan_local", "plan_load")),
)
"""A few points of the scale profile in the quick one: a real 8B's state dicts at 4096 ranks, and one 405B block's
planning at 1024 ranks, loaded as saved and resharded from 512."""

# Real model shapes at the sizes users run, by simulation (docs/simulated.md); <= 15 minutes and 8 GiB here.
SCALE = Profile(name="scale", mesh_shapes=((4,),), models=("llama3_debug",), checkpoint_models=(),
                simulations=SCALE_SIMULATIONS, host_memory_cap_gb=8.0,
                # the scale profile's figures are medians along a rank axis, fitted for growth: 3 rounds each
                rounds=RoundSettings(warmup_rounds=1, min_rounds=3, max_rounds=10, budget_s=0.3,
                                     case_timeout_s=600.0))

PROFILES = {
    "quick": Profile(name="quick", mesh_shapes=CPU_MESHES,
                     models=("dummy", "dummy_uneven", "transformer_1m", "mlp_1m_uneven"),
                     # the dummy models' few kB would time only DCP's fixed costs; one even, one uneven model
                     checkpoint_models=("transformer_1m", "mlp_1m_uneven"),
                     simulated_fsdp2_ranks=(1024,), simulated_plan_ranks=(8, 256, 1024),
                     simulations=QUICK_SCALE_POINTS,
                     rounds=RoundSettings(warmup_rounds=1, min_rounds=5, max_rounds=30, budget_s=0.15)),
    "nightly": Profile(name="nightly", mesh_shapes=CPU_MESHES,
                       models=("dummy", "dummy_uneven", "transformer_1m", "transformer_1m_uneven", "mlp_1m",
                               "mlp_1m_uneven", "transformer_10m", "transformer_10m_uneven", "mlp_10m_uneven"),
                       simulated_fsdp2_ranks=(64, 256, 1024, 4096), simulated_plan_ranks=SIMULATED_PLAN_RANKS,
                       rounds=RoundSettings(warmup_rounds=2, min_rounds=10, max_rounds=100, budget_s=2.0)),
    "full": Profile(name="full", mesh_shapes=CPU_MESHES,
                    models=tuple(n for n in ("dummy", "dummy_uneven") + tuple(
                        f"{family}_{size}{suffix}" for family in ("mlp", "transformer")
                        for size in ("1m", "10m", "100m") for suffix in ("", "_uneven"))),
                    simulated_models=("transformer_1m", "transformer_10m"),
                    simulated_fsdp2_ranks=(64, 256, 1024, 4096), simulated_plan_ranks=SIMULATED_PLAN_RANKS,
                    rounds=RoundSettings(warmup_rounds=2, min_rounds=10, max_rounds=200, budget_s=5.0,
                                         case_timeout_s=600.0)),
    "scale": SCALE,
    # the scale profile and the coordinator's global plan at 16,384 ranks: about 35 minutes here (that case: 5 rounds
    # of about 4 minutes, one measured on 2026-12-07)
    "scale-full": dataclasses.replace(SCALE, name="scale-full", simulations=SCALE_FULL_SIMULATIONS),
    # One H200 in about 5 minutes (estimated from sizes; see the README): the whole matrix on a 1M model in bf16
    # and fp32, a 134M and a 1.04B model on the short list, DCP I/O up to the 134M model (1.6 GB per fp32 save).
    "gpu": Profile(name="gpu", mesh_shapes=(), needs_cuda=True, dtypes=("bfloat16", "float32"),
                   models=("transformer_1m_uneven", "transformer_100m", "transformer_1b"),
                   checkpoint_models=("transformer_1m_uneven", "transformer_100m"),
                   limited_models=("transformer_100m", "transformer_1b"),
                   rounds=RoundSettings(warmup_rounds=1, min_rounds=5, max_rounds=20, budget_s=0.2,
                                        case_timeout_s=60.0),
                   timeout_base_params=1.5e9),
}


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise UnknownProfileError(f"unknown profile {name!r}; choose from {', '.join(PROFILES)}") from None
