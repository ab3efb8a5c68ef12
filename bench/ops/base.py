"""What every measured operation provides to the round loop."""

from __future__ import annotations

import copy
from typing import Any

from bench.ops.context import RankContext
from bench.ops.state_tree import first_difference, snapshot


class Unsupported(Exception):
    """torch refuses this combination; the message is torch's own."""


class Operation:
    """One case on one rank. setup() and verify() run once, outside the timed rounds; run() is what is timed."""

    def __init__(self, ctx: RankContext, spec: dict[str, Any]) -> None:
        self.ctx = ctx
        self.spec = spec
        self.options: dict[str, Any] = dict(spec["options"])
        self.effective_options: dict[str, Any] = {}
        """Settings decided at run time (e.g. weights_only), merged into the record's options."""
        self.notes: list[str] = []
        """Short facts worth a line in the record's message."""
        self.extra: dict[str, Any] = {}
        """Per-rank figures of this op beyond the common ones (e.g. serialized_bytes)."""
        self.phases: dict[str, float] = {}
        """Seconds of the contiguous parts of the current round, filled by run(); reset before each round."""
        self.details: dict[str, float] = {}
        """Seconds of figures inside the round that need not tile it (e.g. the coordinator's global planning)."""

    def setup(self) -> None:
        """Build the model and whatever the op consumes."""

    def before_round(self) -> None:
        """Untimed preparation of each round (e.g. a fresh copy of a state dict the op may consume)."""

    def run(self) -> Any:
        raise NotImplementedError

    def verify(self, last_result: Any) -> bool | None:
        """After the rounds: True when what was loaded equals what was saved, None where there is no round trip."""
        return None

    def counted_state(self, last_result: Any) -> Any:
        """The state whose bytes the record reports (what was produced, loaded or serialized)."""
        return last_result

    def report(self, difference: str | None) -> bool:
        """The outcome of an equality check; a difference is kept as a note for the record's message."""
        if difference:
            self.notes.append(f"rank {self.ctx.rank}: {difference}")
        return difference is None


class LoadOperation(Operation):
    """A timed load with a round trip: the state is taken once, the live state perturbed, each round loads a fresh
    copy of what was taken, and afterwards the live state must equal a snapshot taken before the perturbation.

    Put it before the API's operation class in the bases so that setup() builds the model first."""

    def state_to_load(self) -> Any:
        raise NotImplementedError

    def reference_state(self) -> Any:
        """The live state, read the same way before the perturbation and after the loads."""
        raise NotImplementedError

    def perturb(self) -> None:
        raise NotImplementedError

    def setup(self) -> None:
        super().setup()
        self.expected = snapshot(self.reference_state())
        self.saved = copy.deepcopy(self.state_to_load())
        self.perturb()

    def before_round(self) -> None:
        self.to_load = copy.deepcopy(self.saved)  # the load may consume or alias its input (broadcast pops tensors)

    def verify(self, last_result: Any) -> bool:
        return self.report(first_difference(self.expected, self.reference_state()))

    def counted_state(self, last_result: Any) -> Any:
        return self.saved
