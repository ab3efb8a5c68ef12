"""Known torch bugs that make a case fail: a failed record that matches one is marked with its torch issue.

The case still runs (so that a torch which fixes the bug shows it as `fixed` in a compare or nightly); its record
keeps its status and torch's own message, with `known_bug` naming the issue and the message saying so first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class KnownBug:
    issue: str
    summary: str
    api: str
    op: str
    state_dict_type: str
    options: dict[str, Any]
    """Options the case must have, with these values."""
    device: str
    min_world_size: int
    message: re.Pattern[str]

    def matches(self, record: dict[str, Any]) -> bool:
        options = record.get("options") or {}
        return (record.get("status") in ("error", "timeout") and record.get("api") == self.api
                and record.get("op") == self.op and record.get("state_dict_type") == self.state_dict_type
                and all(options.get(k) == v for k, v in self.options.items())
                and record.get("device") in (self.device, None)  # None: the world died before it said
                and (record.get("world_size") or 0) >= self.min_world_size
                and bool(self.message.search(record.get("message") or "")))


KNOWN_BUGS = (
    KnownBug(
        issue="https://github.com/pytorch/pytorch/issues/188989",
        summary="(fixed by pytorch/pytorch#188990) FSDP1 on CPU: FlatParamHandle.to_cpu() frees the unsharded flat "
                "parameter's storage although it is already on the CPU, so offload_to_cpu=True reads freed memory "
                "(a use-after-free: SIGSEGV in FULL_STATE_DICT's get_model with more than one rank)",
        api="fsdp1", op="get_model", state_dict_type="full", options={"offload_to_cpu": True}, device="cpu",
        min_world_size=2, message=re.compile(r"SIGSEGV|setStorage: .* out of bounds")),
)


def mark_known_bug(record: dict[str, Any]) -> None:
    """Marks a failed record that a known torch bug explains, in place."""
    for bug in KNOWN_BUGS:
        if bug.matches(record):
            record["known_bug"] = {"issue": bug.issue, "summary": bug.summary}
            record["message"] = f"known torch bug {bug.issue}: {record['message']}"
            return
