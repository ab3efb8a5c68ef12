"""Writing and reading result files: JSON only, written whole or not at all."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_json_atomically(path: str | os.PathLike | Any, data: dict[str, Any]) -> None:
    """Write to a temporary file in the same folder, then rename: a reader never sees half a file."""
    # pytest-benchmark's --benchmark-json is a path from 5.3 on, an open file before
    target = Path(path if isinstance(path, (str, os.PathLike)) else path.name)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w") as out:
            json.dump(data, out, indent=2)
        os.replace(tmp, target)
    except BaseException:
        os.unlink(tmp)
        raise
