"""torch.save / torch.load of model + optimizer state to files: the baselines users hold DCP against.

`layout=per_rank`: each rank saves its own shard (its sharded state dict) to its own file and loads it back.
`layout=rank0_full`: the full state dict is gathered to rank 0 (offloaded to CPU), which alone writes one file;
on load rank 0 reads it and set_state_dict broadcasts it to the others (broadcast_from_rank0).
A save ends when its file, its folder and the folder's parent are fsync'd (unless the run turned fsync off), as
much as a DCP save makes durable. Loads use weights_only=True.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch.distributed.checkpoint import state_dict as dsd

from bench.machine.checkpoint_files import fsync_with_names
from bench.ops.checkpoint_base import CheckpointOperation, LoadingOperation, SavingOperation
from bench.ops.dcp_timing import Timeline
from bench.ops.state_tree import snapshot


class FileLayout(CheckpointOperation):
    @property
    def full(self) -> bool:
        return self.options["layout"] == "rank0_full"

    @property
    def writes(self) -> bool:
        return not self.full or self.ctx.rank == 0

    def file_in(self, folder: Path) -> Path:
        return folder / ("full.pt" if self.full else f"rank{self.ctx.rank}.pt")

    def take(self) -> dict[str, Any]:
        return self.state(full_state_dict=True, cpu_offload=True) if self.full else self.state()

    def write(self, state: dict[str, Any], folder: Path, timeline: Timeline) -> None:
        if self.writes:
            torch.save(state, self.file_in(folder))
        timeline.mark("write")
        if self.fsync and self.writes:  # as much as a DCP save makes durable: the file and the names above it
            fsync_with_names([self.file_in(folder)], folder)
        timeline.mark("fsync")

    def read(self, folder: Path, timeline: Timeline) -> None:
        state = torch.load(self.file_in(folder), weights_only=True) if self.writes else {"model": {}, "optim": {}}
        timeline.mark("read")
        if self.full:
            # Two calls, as FSDP2's own broadcast load does: set_state_dict skips the model's broadcast on a rank
            # that passes an empty model dict, and rank 0 then waits for it forever (torch 2.13).
            options = dsd.StateDictOptions(full_state_dict=True, broadcast_from_rank0=True)
            dsd.set_model_state_dict(self.model, state["model"], options=options)
            dsd.set_optimizer_state_dict(self.model, self.optim, state["optim"], options=options)
        else:
            self.apply(state)
        timeline.mark("set_state_dict")


class FileSave(SavingOperation, FileLayout):
    def run(self) -> Path:
        timeline = Timeline(self.phases, self.details)
        timeline.begin()
        state = self.take()
        timeline.mark("state_dict")
        self.write(state, self.round_folder, timeline)
        return self.round_folder

    def load_back(self, folder: Path) -> None:
        self.read(folder, Timeline({}, {}))


class FileLoad(LoadingOperation, FileLayout):
    def setup(self) -> None:
        super().setup()
        self.checkpoint = self.folder / "checkpoint"
        self.checkpoint.mkdir(parents=True, exist_ok=True)
        self.expected = snapshot(self.state())
        self.write(self.take(), self.checkpoint, Timeline({}, {}))
        dist.barrier()
        self.record_files(self.checkpoint)

    def run(self) -> None:
        timeline = Timeline(self.phases, self.details)
        timeline.begin()
        self.read(self.checkpoint, timeline)


OPERATIONS = {"save": FileSave, "load": FileLoad}
