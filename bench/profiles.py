"""Profiles: which meshes and models a run covers, and how long each case is measured."""

from __future__ import annotations

from dataclasses import dataclass

from models import get_model_spec


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
    """quick | nightly | full."""
    mesh_shapes: tuple[tuple[int, ...], ...]
    """Worlds of the run: (n,) is a 1D mesh of n ranks, (r, s) a 2D mesh (replicate x shard)."""
    models: tuple[str, ...]
    """Zoo models measured on every mesh."""
    rounds: RoundSettings
    """How long each case is measured."""
    checkpoint_models: tuple[str, ...] | None = None
    """Models of the checkpoint (DCP, torch.save to files) cases; None: all of `models`."""
    simulated_models: tuple[str, ...] = ("transformer_1m",)
    """Models of the simulated cases (one process playing one rank of a large world, bench/simulated.py)."""
    simulated_fsdp2_ranks: tuple[int, ...] = ()
    """World sizes at which FSDP2's sharded get/set of model and optimizer state is simulated."""
    simulated_plan_ranks: tuple[int, ...] = ()
    """World sizes at which DCP's global save planning is simulated."""

    def __post_init__(self) -> None:
        for model in self.models + (self.checkpoint_models or ()) + self.simulated_models:
            get_model_spec(model)


CPU_MESHES = ((1,), (2,), (4,), (2, 2))
SIMULATED_PLAN_RANKS = (8, 64, 256, 1024, 4096)

PROFILES = {
    "quick": Profile(name="quick", mesh_shapes=CPU_MESHES,
                     models=("dummy", "dummy_uneven", "transformer_1m", "mlp_1m_uneven"),
                     # the dummy models' few kB would time only DCP's fixed costs; one even, one uneven model
                     checkpoint_models=("transformer_1m", "mlp_1m_uneven"),
                     simulated_fsdp2_ranks=(1024,), simulated_plan_ranks=(8, 256, 1024),
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
}


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise UnknownProfileError(f"unknown profile {name!r}; choose from {', '.join(PROFILES)}") from None
