"""pytest plugin, loaded early (`-p bench.plugin.json_option` in pyproject.toml): `--benchmark-json` becomes a plain
path.

pytest-benchmark declares the option as `argparse.FileType('wb')`, so argparse opens the file while parsing the
command line: an existing file is emptied before any of the suite's code runs (a `--resume` of that very file would
lose it), a command line refused later still leaves an empty file behind, and an unwritable folder ends in
argparse's usage error (exit code 4). As a path, the suite checks the folder itself and writes the file whole.
The option has to be changed after pytest-benchmark declares it and before pytest parses it: this plugin is loaded
with `-p`, ahead of pytest-benchmark, and watches for its registration.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from bench.results.files import atomic_binary_file

_PARSER: Any = None


class ResultPath(os.PathLike):
    """The value of --benchmark-json: a path, which pytest-benchmark may also use as the file it writes to; it is
    then written whole (temporary file, then rename) rather than opened at parse time."""

    def __init__(self, path: str) -> None:
        self.name = str(Path(path))

    def __fspath__(self) -> str:
        return self.name

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"ResultPath({self.name!r})"

    def __enter__(self):
        self._writer = atomic_binary_file(self.name)
        return self._writer.__enter__()

    def __exit__(self, *exc_info) -> None:
        self._writer.__exit__(*exc_info)


def _as_path(parser: Any) -> None:
    for action in parser.optparser._actions:  # pytest offers no public way to change another plugin's option
        if action.dest == "benchmark_json" and isinstance(action.type, argparse.FileType):
            action.type = ResultPath


def pytest_addoption(parser, pluginmanager) -> None:
    global _PARSER
    _PARSER = parser
    _as_path(parser)  # when pytest-benchmark was registered first


def pytest_plugin_registered(plugin, plugin_name, manager) -> None:
    if _PARSER is not None and getattr(plugin, "__name__", "") == "pytest_benchmark.plugin":
        _as_path(_PARSER)
