"""What a rank knows about itself: its place in the world, its device and mesh, the run's settings."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


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
    def is_cuda(self) -> bool:
        return self.device.type == "cuda"

    def synchronize(self) -> None:
        if self.is_cuda:
            torch.cuda.synchronize(self.device)


TORCH_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}
"""bench.config.matrix.DTYPES as torch's dtypes."""


def torch_dtype(name: str) -> torch.dtype:
    """A case's dtype option as torch's dtype."""
    try:
        return TORCH_DTYPES[name]
    except KeyError:
        raise ValueError(f"unknown dtype {name!r}") from None
