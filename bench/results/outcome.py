"""What a world returns for one case, before it becomes a record (bench/results/record.py): the case's status
and every rank's reply. The worlds (bench/worlds/) fill it; no torch here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class CaseOutcome:
    status: str
    """ok | unsupported | error | timeout | skipped."""
    message: str
    """torch's message, the failing rank and traceback, or the signal that killed a rank; empty when ok."""
    replies: list[dict[str, Any] | None] = field(default_factory=list)
    """Each rank's reply, None for a rank that did not answer."""
