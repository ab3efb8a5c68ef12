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
from pathlib import Path

PRIVATE_MODE = 0o700
_PREFIX = "statedict-bench-"


def make_private_dir(parent: str | Path | None = None, prefix: str = _PREFIX) -> Path:
    """A new folder only this user can enter (mkdtemp creates it with mode 0700)."""
    if parent is not None:
        Path(parent).mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    os.chmod(path, PRIVATE_MODE)
    return path


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


def fsync_tree(path: str | Path) -> None:
    """Every file under path, then every folder from the deepest up to path itself and its parent."""
    root = Path(path)
    fsync_files(files_under(root))
    folders = sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True)
    for folder in folders + [root, root.parent]:
        fsync_path(folder)


def drop_page_cache(path: str | Path) -> None:
    """Evict the files under path from the page cache; dirty pages are written first, DONTNEED skips them."""
    for file in files_under(path):
        fd = os.open(file, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


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
            resident += sum(v & 1 for v in vector)
            total += pages
    return resident / total if total else None
