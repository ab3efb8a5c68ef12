"""What a rank knows about itself: its place in the world, its device and mesh, the run's settings."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from bench.ops.matrix import DEFAULT_DTYPE, DTYPES

SIMULATED_BACKEND = "fake"
"""The backend of a simulated world's process group (bench/rank/simulated.py): torch's fake process group."""


@dataclass(kw_only=True, slots=True)
class RankContext:
    rank: int
    """This process's global rank."""
    world_size: int
    """Number of ranks in the world."""
    mesh_shape: tuple[int, ...]
    """(world_size,) for a 1D mesh, (replicate, shard) for a 2D one."""
    device: torch.device
    """`cpu` with gloo, `cuda:<local rank>` with nccl."""
    backend: str
    """The process group backend: `gloo` or `nccl`."""
    mesh: object = field(default=None)
    """The DeviceMesh of mesh_shape, built once per world."""
    seed: int = 0
    """Seed of the model weights and inputs."""
    dtype: torch.dtype = torch.float32
    """Parameter dtype of the current case (its option `dtype`, set by the rank before each case)."""

    @property
    def simulated(self) -> bool:
        """One process plays this rank of a world on a fake process group: collectives move no data."""
        return self.backend == SIMULATED_BACKEND

    @property
    def is_cuda(self) -> bool:
        return self.device.type == "cuda"

    def synchronize(self) -> None:
        if self.is_cuda:
            torch.cuda.synchronize(self.device)


def torch_dtype(name: str | None) -> torch.dtype:
    """A case's dtype option (one of bench/ops/matrix.py DTYPES; None: the default) as torch's dtype of that name."""
    name = name or DEFAULT_DTYPE
    if name not in DTYPES:
        raise ValueError(f"unknown dtype {name!r}")
    return getattr(torch, name)
