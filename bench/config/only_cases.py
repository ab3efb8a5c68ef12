"""`--only-cases FILE`: run only the cases a JSON list of case ids names. Compare mode writes it for the passes
after a case has been settled (bench/compare/settle.py), so that later passes spend their time on the undecided
cases; a user can give one too. An id the selection does not hold is refused, so that a typo cannot run nothing."""

from __future__ import annotations

import json
from pathlib import Path

from bench.config.selection import BadInput


def read_case_ids(path: Path) -> set[str]:
    """The ids in the file; raises BadInput with one line when it is unreadable or not a list of strings."""
    try:
        ids = json.loads(path.read_text())
    except OSError as exc:
        raise BadInput(f"--only-cases {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise BadInput(f"--only-cases {path}: not JSON ({exc})") from None
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise BadInput(f"--only-cases {path}: must be a JSON list of case ids (strings)")
    return set(ids)


def unknown_ids(wanted: set[str], collected: set[str]) -> str | None:
    """A one-line complaint about ids the selection lacks, or None."""
    missing = sorted(wanted - collected)
    if not missing:
        return None
    more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
    return f"--only-cases names a case the selection does not hold: {missing[0]}{more}"
