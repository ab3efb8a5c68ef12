"""What an interpreter needs installed to run the suite, read from pyproject.toml (the one list): the project's
dependencies, and with `tests` the test extras. Standard library only, so that any python 3.11 can ask before
anything is installed (run_bench.sh, compare mode's check of each side, the GPU check):

    python -m bench.machine.requirements [--tests] [--without torch] [--check]

prints each requirement the interpreter lacks, one a line, as pip takes them; with --check, prints one line naming
them on stderr and exits 2 when any is missing.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from importlib import metadata

from bench import REPO_ROOT

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def requirements(tests: bool = False) -> list[str]:
    """pyproject.toml's dependencies (and test extras), as written there, e.g. 'pytest-benchmark>=4'."""
    with open(REPO_ROOT / "pyproject.toml", "rb") as file:
        project = tomllib.load(file)["project"]
    return list(project["dependencies"]) + (list(project["optional-dependencies"]["test"]) if tests else [])


def distribution(requirement: str) -> str:
    """'pytest-benchmark>=4' -> 'pytest-benchmark'."""
    match = _NAME.match(requirement)
    if match is None:
        raise ValueError(f"pyproject.toml: cannot read the requirement {requirement!r}")
    return match.group(1)


def _satisfied(requirement: str) -> bool:
    try:
        version = metadata.version(distribution(requirement))
    except metadata.PackageNotFoundError:
        return False
    try:  # the version too, where packaging (itself a requirement) is there to read the specifier
        from packaging.requirements import Requirement
    except ImportError:
        return True
    return Requirement(requirement).specifier.contains(version, prereleases=True)


def missing(tests: bool = False, without: tuple[str, ...] = ()) -> list[str]:
    """The requirements this interpreter lacks (absent, or of a version the specifier excludes)."""
    return [r for r in requirements(tests) if distribution(r) not in without and not _satisfied(r)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.machine.requirements", description=__doc__.split("\n")[0])
    parser.add_argument("--tests", action="store_true", help="the test extras too")
    parser.add_argument("--without", action="append", default=[], help="leave this distribution out (repeatable)")
    parser.add_argument("--check", action="store_true", help="exit 2 with one line on stderr if any is missing")
    args = parser.parse_args(argv)
    lacking = missing(args.tests, tuple(args.without))
    if args.check:
        if lacking:
            print(f"{sys.executable} lacks {', '.join(lacking)}: install them with "
                  f"{sys.executable} -m pip install {' '.join(repr(r) for r in lacking)}", file=sys.stderr)
            return 2
        return 0
    for requirement in lacking:
        print(requirement)
    return 0


if __name__ == "__main__":
    sys.exit(main())
