"""The machine's GPUs, as torch sees them: how many, and the smallest one's memory. The only place outside a rank
where the pytest process asks torch about devices; config/ is given the answers (it never imports torch)."""

from __future__ import annotations

from functools import lru_cache


def cuda_device_count() -> int:
    """GPUs torch can use here, 0 without CUDA; asks the driver without creating a CUDA context."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


@lru_cache(maxsize=1)
def device_total_bytes() -> int | None:
    """The smallest GPU's total memory, None without GPUs. Total rather than free: the ranks' own caching allocators
    hold free memory between cases, so free memory would skip cases that fit; a case over the total never can."""
    import torch

    if not torch.cuda.is_available():
        return None
    return min(torch.cuda.get_device_properties(i).total_memory for i in range(torch.cuda.device_count()))
