"""torch.save of FSDP1's sharded (DTensor) model or optimizer state dict into a BytesIO, and torch.load back, each
timed apart, as PyTorch's FSDP DTensor state-dict test does."""

from __future__ import annotations

import io
from typing import Any

import torch

from bench.ops.fsdp1 import FSDP1Operation
from bench.ops.state_tree import first_difference, snapshot


class _Serialization(FSDP1Operation):
    def setup(self) -> None:
        super().setup()
        self.state = self.model_state() if self.options["state"] == "model" else self.optim_state()
        self.expected = snapshot(self.state)
        self.data = self.serialize().getvalue()
        self.weights_only = self._weights_only_allowed()
        self.effective_options["weights_only"] = self.weights_only
        self.extra["serialized_bytes"] = len(self.data)

    def _weights_only_allowed(self) -> bool:
        """weights_only=True wherever torch allows it; where it refuses, say so and load the trusted bytes fully."""
        try:
            torch.load(io.BytesIO(self.data), weights_only=True)
            return True
        except Exception as exc:  # torch raises UnpicklingError, or others, for globals it does not allow
            self.notes.append(f"weights_only=True refused: {str(exc).splitlines()[0][:200]}")
            return False

    def serialize(self) -> io.BytesIO:
        buffer = io.BytesIO()
        torch.save(self.state, buffer)
        return buffer

    def deserialize(self, data: bytes) -> Any:
        return torch.load(io.BytesIO(data), weights_only=self.weights_only)

    def counted_state(self, last_result: Any) -> Any:
        return self.state


class Serialize(_Serialization):
    def run(self) -> io.BytesIO:
        return self.serialize()

    def verify(self, last_result: io.BytesIO) -> bool:
        return self.report(first_difference(self.expected, self.deserialize(last_result.getvalue())))


class Deserialize(_Serialization):
    def run(self) -> Any:
        return self.deserialize(self.data)

    def verify(self, last_result: Any) -> bool:
        return self.report(first_difference(self.expected, last_result))


OPERATIONS = {"serialize": Serialize, "deserialize": Deserialize}
