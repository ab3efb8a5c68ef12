"""torch.distributed.checkpoint: save, load and async_save of model + optimizer state to a local folder, the way
torchtitan does it (get_state_dict, dcp.save/load, set_state_dict), from FSDP1 (sharded, with a mesh) or FSDP2.

Every round writes a fresh folder (the previous one is removed, untimed) and ends when the data is durable: data
files, metadata and folders fsync'd, unless the run turned fsync off. Loads read a checkpoint saved once in setup,
with the page cache dropped before each round (`page_cache=cold`) or left warm. A resharding load reads a
checkpoint that a world of another size saved (`saved_on`), and checks every value against what that world saved.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp

from bench.machine.checkpoint_files import tree_size
from bench.ops.base import Unsupported
from bench.ops.checkpoint_base import LoadingOperation, SavingOperation, checkpoint_state
from bench.ops.dcp_timing import (Timeline, TimedFileSystemReader, TimedFileSystemWriter, TimedLoadPlanner,
                                  TimedSavePlanner)
from bench.ops.state_tree import first_difference, snapshot
from bench.ops.wrapping import build_fsdp2

EXPECTED_FILE = "expected_full_state.pt"
"""Beside a resharding source: the full state its world saved, to check a load at another world size against."""


class DCPSaving(SavingOperation):
    def writer(self, timeline: Timeline) -> TimedFileSystemWriter:
        return TimedFileSystemWriter(self.round_folder, timeline, fsync=self.fsync,
                                     thread_count=self.options.get("thread_count", 1),
                                     single_file_per_rank=self.options.get("single_file_per_rank", True))

    def load_back(self, folder: Path) -> None:
        state = self.state()
        dcp.load(state, checkpoint_id=str(folder))
        self.apply(state)


class Save(DCPSaving):
    def run(self) -> Path:
        timeline = Timeline(self.phases, self.details)
        timeline.begin()
        state = self.state()
        timeline.mark("state_dict")
        dcp.save(state, storage_writer=self.writer(timeline), planner=TimedSavePlanner(timeline))
        timeline.mark("finish")
        self.make_durable(self.round_folder)
        timeline.mark("durable")
        return self.round_folder


class AsyncSave(DCPSaving):
    """dcp.async_save, thread- or process-based, with torch's default staging or pinned-memory staging. Phases:
    state_dict | blocking (until the call returns) | upload (until its future is done) | durable. `staging` is a
    detail: until the staged copy exists (inside `blocking` with the default, synchronous staging)."""

    def setup(self) -> None:
        super().setup()
        from torch.distributed.checkpoint.state_dict_saver import AsyncCheckpointerType

        self.mode = AsyncCheckpointerType.PROCESS if self.options["mode"] == "process" else AsyncCheckpointerType.THREAD
        self.stager = self._pinned_stager() if self.options.get("staging") == "pinned" else None

    def _pinned_stager(self):
        from torch.distributed.checkpoint.staging import DefaultStager, StagingOptions

        cuda = torch.cuda.is_available()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            stager = DefaultStager(StagingOptions(use_pinned_memory=True, use_shared_memory=False,
                                                  use_async_staging=cuda, use_non_blocking_copy=cuda))
        ignored = [str(w.message) for w in caught if "pin" in str(w.message).lower()]
        if ignored:  # torch would stage to ordinary memory and call it done: measuring that as pinned would lie
            stager.close()
            raise Unsupported(ignored[0])
        return stager

    def run(self) -> Path:
        timeline = Timeline(self.phases, self.details)
        timeline.begin()
        state = self.state()
        timeline.mark("state_dict")
        called = time.perf_counter()
        # The writer and planner mark `upload.*` details from torch's background thread. A process-based save
        # pickles them into its own process, where the marks stay: such records have no `upload.*` details.
        background = Timeline(self.details, self.details, prefix="upload.")
        kwargs = {"async_stager": self.stager} if self.stager else {}
        response = dcp.async_save(state, storage_writer=self.writer(background), planner=TimedSavePlanner(background),
                                  async_checkpointer_type=self.mode, **kwargs)
        timeline.mark("blocking")
        if hasattr(response, "upload_completion"):  # staging runs on after the call returns
            response.staging_completion.result()
            self.details["staging"] = time.perf_counter() - called
            response.upload_completion.result()
        else:  # staging happened inside the call
            self.details["staging"] = self.phases["blocking"]
            response.result()
        timeline.mark("upload")
        self.make_durable(self.round_folder)
        timeline.mark("durable")
        return self.round_folder

    def verify(self, last_result: Path) -> bool:
        if self.stager is not None:
            self.stager.close()
        return super().verify(last_result)


class Load(LoadingOperation):
    """dcp.load into the live state dict, then set_state_dict; each round starts from a perturbed model."""

    def setup(self) -> None:
        super().setup()
        self.prepare_checkpoint()
        self.record_files(self.checkpoint)

    def prepare_checkpoint(self) -> None:
        """Sets `checkpoint` (the folder each round reads) and `expected` (the state a round must end with)."""
        self.checkpoint = self.folder / "checkpoint"
        state = self.state()
        self.expected = snapshot(state)
        dcp.save(state, checkpoint_id=str(self.checkpoint))
        dist.barrier()

    def run(self) -> None:
        timeline = Timeline(self.phases, self.details)
        timeline.begin()
        state = self.state()
        timeline.mark("state_dict")
        dcp.load(state, storage_reader=TimedFileSystemReader(self.checkpoint, timeline),
                 planner=TimedLoadPlanner(timeline))
        timeline.mark("finish")
        self.apply(state)
        timeline.mark("set_state_dict")


class ReshardLoad(Load):
    """Loads what a world of another shape saved (`saved_on`); every rank compares the full state it now holds with
    the full state that world wrote beside its checkpoint."""

    def prepare_checkpoint(self) -> None:
        source = Path(self.spec["source_checkpoint"])
        self.checkpoint = source / "dcp"
        self.expected = snapshot(torch.load(source / EXPECTED_FILE, weights_only=True))

    def verify(self, last_result: Any) -> bool:
        return self.report(first_difference(self.expected, self.state(full_state_dict=True)))


def save_source_checkpoint(ctx, model: str, folder: str, dtype: str = "float32") -> int:
    """Run on a world by the session: the checkpoint a resharding load reads, and the full state beside it.
    Returns the checkpoint's bytes on disk."""
    from bench.ops.context import torch_dtype

    target = Path(folder)
    ctx.dtype = torch_dtype(dtype)  # not whatever dtype the world's last case left there
    module, optim = build_fsdp2(ctx, model)
    dcp.save(checkpoint_state(module, optim), checkpoint_id=str(target / "dcp"))
    full = checkpoint_state(module, optim, full_state_dict=True, cpu_offload=True)
    if ctx.rank == 0:
        torch.save(full, target / EXPECTED_FILE)
    dist.barrier()
    return tree_size(target / "dcp")[0]


def _load(ctx, spec: dict[str, Any]) -> Load:
    return ReshardLoad(ctx, spec) if spec["options"].get("saved_on") else Load(ctx, spec)


OPERATIONS = {"save": Save, "async_save": AsyncSave, "load": _load}
