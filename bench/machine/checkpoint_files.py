"""Files of a checkpoint on local disk: private folders, durability (fsync), the page cache, sizes.

A save is only done when its data is durable, so the suite fsyncs what it wrote and the folders holding it. A load
is measured cold by evicting the checkpoint's pages from the page cache first (fsync, then posix_fadvise
DONTNEED, which the kernel honours for clean pages) and checking with mincore() how much stayed resident.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import shutil
import tempfile
from functools import cache
from pathlib import Path

_PREFIX = "statedict-bench-"


def make_private_dir(parent: str | Path | None = None, prefix: str = _PREFIX) -> Path:
    """A new folder only this user can enter (mkdtemp creates it with mode 0700)."""
    if parent is not None:
        Path(parent).mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=parent))


def remove_tree(path: str | Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def files_under(path: str | Path) -> list[Path]:
    return sorted(p for p in Path(path).rglob("*") if p.is_file())


def tree_size(path: str | Path) -> tuple[int, int]:
    """(bytes, file count) of every file under path."""
    files = files_under(path)
    return sum(p.stat().st_size for p in files), len(files)


def fsync_path(path: str | Path) -> None:
    """fsync one file or folder (a folder's fsync makes the names of new files in it durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_files(paths: list[Path]) -> None:
    for path in paths:
        fsync_path(path)


def fsync_with_names(files: list[Path], folder: Path) -> None:
    """Make files durable with their names: the files, the folder holding them, and the folder's parent (the
    folder is new each save round, so its own name must be durable too)."""
    fsync_files(files)
    fsync_path(folder)
    fsync_path(folder.parent)


def drop_page_cache(path: str | Path) -> None:
    """Evict the files under path from the page cache; dirty pages are written first, DONTNEED skips them."""
    for file in files_under(path):
        fd = os.open(file, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


# Byte -> its lowest bit: mincore sets bit 0 of a page's byte when the page is resident (the others are reserved).
_RESIDENT_BIT = bytes(b & 1 for b in range(256))


@cache
def _libc():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_ubyte)]
    return libc


def resident_fraction(path: str | Path) -> float | None:
    """Share of the bytes under path that sit in the page cache (mincore of a mapping); None where unknown."""
    try:
        libc = _libc()
    except (OSError, AttributeError):
        return None
    page = mmap.PAGESIZE
    resident = total = 0
    for file in files_under(path):
        size = file.stat().st_size
        if size == 0:
            continue
        with open(file, "rb") as handle, mmap.mmap(handle.fileno(), size, access=mmap.ACCESS_COPY) as mapping:
            pages = (size + page - 1) // page
            vector = (ctypes.c_ubyte * pages)()
            anchor = ctypes.c_char.from_buffer(mapping)  # the mapping's address; released before it closes
            failed = libc.mincore(ctypes.c_void_p(ctypes.addressof(anchor)), size, vector) != 0
            del anchor
            if failed:
                return None
            resident += bytes(vector).translate(_RESIDENT_BIT).count(1)
            total += pages
    return resident / total if total else None
