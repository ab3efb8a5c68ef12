"""Writing result files: JSON only, written whole or not at all."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, BinaryIO, Iterator


def target_path(path: str | os.PathLike | Any) -> Path:
    """--benchmark-json as a path (bench/plugin/json_option.py), or as the open file older set-ups give."""
    return Path(path if isinstance(path, (str, os.PathLike)) else path.name)


@contextlib.contextmanager
def atomic_binary_file(path: str | os.PathLike | Any) -> Iterator[BinaryIO]:
    """A temporary file in the same folder, renamed over `path` when the block ends without an exception: a
    reader never sees half a file, and an interrupted write leaves the previous file as it was."""
    target = target_path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's 0600 is for the temporary file; a result is an ordinary file
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json_atomically(path: str | os.PathLike | Any, data: dict[str, Any]) -> None:
    # Compact: the file is rewritten after every case, and indenting a quick run's file makes it 1.7x larger and
    # 3x slower to write (5.3 MB, 0.17 s per write at the end of the run here).
    with atomic_binary_file(path) as out:
        out.write(json.dumps(data).encode())
