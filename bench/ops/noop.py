"""The null case: an op that does nothing, so the harness's own floor is measured in every run."""

from bench.ops.base import Operation


class NoOp(Operation):
    def run(self) -> None:
        return None
