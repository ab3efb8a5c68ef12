"""Ceilings: what this machine can do at best, measured once per run, so that every I/O figure can be read as a
fraction of what was possible here (a save at 0.2 GB/s means one thing on a 0.3 GB/s disk, another on a 3 GB/s one).

- memcpy_gbps: a large tensor copy in memory (the bound of staging and of in-memory serialization).
- write_fsync_gbps: one file written sequentially in 8 MiB blocks, then fsync'd (the bound of a durable save).
- write_buffered_gbps: the same without fsync (the bound of a save that stops at the page cache).
- read_cold_gbps: that file read back after its pages were evicted from the page cache (a cold load).
- read_warm_gbps: read again with its pages cached (a warm load).
- cuda_d2h_pinned_gbps / cuda_h2d_pinned_gbps: device <-> pinned host copies, where CUDA is present.
Each is the best of a few repeats: a ceiling is what the machine can do, noise only ever lowers it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable

from bench.machine.checkpoint_files import drop_page_cache, make_private_dir, remove_tree

BLOCK_BYTES = 8 * 2**20
REPEATS = 3


def _best_gbps(nbytes: int, action: Callable[[], None], before: Callable[[], None] = lambda: None) -> float:
    best = float("inf")
    for _ in range(REPEATS):
        before()
        began = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - began)
    return nbytes / best / 1e9


def _write(path: Path, nbytes: int, sync: bool) -> None:
    block = memoryview(os.urandom(BLOCK_BYTES))  # incompressible, in case the filesystem compresses
    with open(path, "wb", buffering=0) as handle:
        for _ in range(nbytes // BLOCK_BYTES):
            written = 0
            while written < BLOCK_BYTES:  # a raw write may be short; the next one then raises (e.g. ENOSPC)
                written += handle.write(block[written:])
        if sync:
            os.fsync(handle.fileno())


def _read(path: Path) -> None:
    with open(path, "rb", buffering=0) as handle:
        while handle.read(BLOCK_BYTES):
            pass


def memcpy_gbps(nbytes: int) -> float:
    import torch

    source = torch.ones(nbytes // 4, dtype=torch.float32)
    target = torch.empty_like(source)
    return _best_gbps(nbytes, lambda: target.copy_(source))


def file_ceilings(folder: str | Path, nbytes: int) -> dict[str, float]:
    scratch = make_private_dir(folder, prefix="ceiling-")
    path = scratch / "sequential.bin"
    try:
        result = {
            "write_buffered_gbps": _best_gbps(nbytes, lambda: _write(path, nbytes, sync=False)),
            "write_fsync_gbps": _best_gbps(nbytes, lambda: _write(path, nbytes, sync=True)),
            "read_cold_gbps": _best_gbps(nbytes, lambda: _read(path), before=lambda: drop_page_cache(scratch)),
        }
        _read(path)
        result["read_warm_gbps"] = _best_gbps(nbytes, lambda: _read(path))
        return result
    finally:
        remove_tree(scratch)


def _pinned_copy_gbps(nbytes: int) -> dict[str, float]:
    import torch

    device_buffer = torch.empty(nbytes, dtype=torch.uint8, device="cuda")
    host_buffer = torch.empty(nbytes, dtype=torch.uint8, pin_memory=True)

    def copy(target, source):
        target.copy_(source, non_blocking=True)
        torch.cuda.synchronize()

    copy(host_buffer, device_buffer)  # first touch of both buffers outside the measurement
    return {"cuda_d2h_pinned_gbps": _best_gbps(nbytes, lambda: copy(host_buffer, device_buffer)),
            "cuda_h2d_pinned_gbps": _best_gbps(nbytes, lambda: copy(device_buffer, host_buffer))}


def cuda_ceilings(nbytes: int) -> dict[str, float]:
    import torch

    if not torch.cuda.is_available():
        return {}
    result = _pinned_copy_gbps(nbytes)
    # This runs in the pytest process, which lives as long as the run: its buffers are gone now; hand the device
    # memory back to the driver rather than keep it cached on GPU 0, beside rank 0's.
    torch.cuda.empty_cache()
    return result


def measure_ceilings(folder: str | Path, nbytes: int = 256 * 2**20) -> dict[str, Any]:
    """All ceilings, with the folder and size they were measured on. Errors are kept, not raised: a missing ceiling
    must not cost the run."""
    began = time.perf_counter()
    ceilings: dict[str, Any] = {"folder": str(folder), "bytes": nbytes}
    for name, measure in (("memcpy", lambda: {"memcpy_gbps": memcpy_gbps(nbytes)}),
                          ("file", lambda: file_ceilings(folder, nbytes)), ("cuda", lambda: cuda_ceilings(nbytes))):
        try:
            ceilings.update(measure())
        except Exception as exc:  # e.g. a full disk: say which ceiling is missing and why
            ceilings[f"{name}_error"] = f"{type(exc).__name__}: {exc}"
    ceilings["seconds"] = time.perf_counter() - began
    return ceilings


def matching_ceiling(record: dict[str, Any]) -> str | None:
    """The ceiling an I/O record's throughput is bounded by; None for ops that do no I/O."""
    options = record.get("options") or {}
    if record["api"] in ("dcp", "torch_save") and record["op"] in ("save", "async_save"):
        return "write_fsync_gbps" if options.get("fsync", True) else "write_buffered_gbps"
    if record["api"] in ("dcp", "torch_save") and record["op"] == "load":
        return "read_warm_gbps" if options.get("page_cache") == "warm" else "read_cold_gbps"
    if record["op"] in ("serialize", "deserialize"):  # into and out of memory
        return "memcpy_gbps"
    return None


def add_fraction_of_ceiling(record: dict[str, Any], ceilings: dict[str, Any]) -> None:
    name = matching_ceiling(record)
    record["ceiling"] = name
    ceiling = ceilings.get(name) if name else None
    if ceiling and record.get("throughput_gbps") is not None:
        record["fraction_of_ceiling"] = record["throughput_gbps"] / ceiling
    _add_staging_rate(record, ceilings)


def _add_staging_rate(record: dict[str, Any], ceilings: dict[str, Any]) -> None:
    """Pinned staging copies each rank's shard from its GPU into pinned host memory, in parallel over the ranks:
    the largest shard over the staging time is a rank's copy rate, bounded by the pinned device-to-host ceiling.
    `staging_gbps_per_rank` and `staging_fraction_of_ceiling`; only for pinned async saves on GPUs."""
    staging_s = record.get("staging_median_s")
    shards = [b for b in record.get("bytes_per_rank") or [] if b]
    if (record.get("options") or {}).get("staging") != "pinned" or not staging_s or not shards:
        return
    record["staging_gbps_per_rank"] = max(shards) / staging_s / 1e9
    ceiling = ceilings.get("cuda_d2h_pinned_gbps")
    if ceiling:
        record["staging_fraction_of_ceiling"] = record["staging_gbps_per_rank"] / ceiling
