"""Seams into torch.distributed.checkpoint where its time can be taken apart: a planner subclass, and file storage
writer/reader subclasses.

A `Timeline` turns consecutive marks into contiguous phases, which therefore add up to the span they cover (the
record checks that they cover the whole round). Figures inside a phase that do not tile it, like the coordinator's
global planning inside `plan`, are details.

Save (sync): state_dict | plan (local plan, gather, global plan on the coordinator, scatter) | write (serialize into
the page cache) | fsync (this rank's files) | finish (gather of write results, metadata by the coordinator) |
durable (fsync of the metadata and the folder). Files are written with sync_files=False and fsync'd here, so that
serializing and making durable are timed apart.
Load: state_dict | plan (metadata read and planning) | read (file reads, deserialization, copy into the state) |
finish (the ranks' closing all_gather) | set_state_dict.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

from torch.distributed.checkpoint import DefaultLoadPlanner, DefaultSavePlanner, FileSystemReader, FileSystemWriter

from bench.machine.checkpoint_files import fsync_files


class Timeline:
    """Phases of one round as contiguous spans between marks, plus details that need not tile anything."""

    def __init__(self, phases: dict[str, float], details: dict[str, float], prefix: str = "") -> None:
        self.phases = phases
        self.details = details
        self.prefix = prefix
        self._last: float | None = None

    @property
    def begun(self) -> bool:
        return self._last is not None

    def begin(self) -> None:
        self._last = time.perf_counter()

    def mark(self, ended: str) -> None:
        """The phase `ended` ends now; the next one starts now."""
        now = time.perf_counter()
        if self._last is not None:
            key = self.prefix + ended
            self.phases[key] = self.phases.get(key, 0.0) + now - self._last
        self._last = now

    @contextlib.contextmanager
    def detail(self, name: str):
        began = time.perf_counter()
        try:
            yield
        finally:
            key = self.prefix + name
            self.details[key] = self.details.get(key, 0.0) + time.perf_counter() - began


class _TimedPlanning:
    """Planning hooks shared by the save and load planners: local and global planning as details, and the end of
    the plan phase where the plan is finished."""

    timeline: Timeline

    def create_local_plan(self):
        with self.timeline.detail("local_plan"):
            return super().create_local_plan()

    def create_global_plan(self, all_plans):
        with self.timeline.detail("global_plan"):
            return super().create_global_plan(all_plans)

    def finish_plan(self, new_plan):
        self.timeline.mark("plan")
        return super().finish_plan(new_plan)


class TimedSavePlanner(_TimedPlanning, DefaultSavePlanner):
    def __init__(self, timeline: Timeline, **kwargs) -> None:
        super().__init__(**kwargs)
        self.timeline = timeline

    def set_up_planner(self, *args, **kwargs):
        if not self.timeline.begun:  # a background save's own timeline starts with its planning
            self.timeline.begin()
        return super().set_up_planner(*args, **kwargs)


class TimedLoadPlanner(_TimedPlanning, DefaultLoadPlanner):
    def __init__(self, timeline: Timeline, **kwargs) -> None:
        super().__init__(**kwargs)
        self.timeline = timeline


class TimedFileSystemWriter(FileSystemWriter):
    """Writes without torch's per-file fsync and fsyncs this rank's files itself, so that serializing into the page
    cache (`write`) and making the data durable (`fsync`) are two phases."""

    def __init__(self, path: str | Path, timeline: Timeline, *, fsync: bool, **kwargs) -> None:
        super().__init__(path, sync_files=False, **kwargs)
        self.timeline = timeline
        self.fsync = fsync
        self.folder = Path(path)

    def write_data(self, plan, planner):
        future = super().write_data(plan, planner)
        future.wait()
        self.timeline.mark("write")
        if self.fsync:
            written = {result.storage_data.relative_path for result in future.value()}
            fsync_files([self.folder / name for name in sorted(written)])
            self.timeline.mark("fsync")
        return future

    def finish(self, metadata, results) -> None:
        with self.timeline.detail("metadata"):
            super().finish(metadata, results)


class TimedFileSystemReader(FileSystemReader):
    def __init__(self, path: str | Path, timeline: Timeline) -> None:
        super().__init__(path)
        self.timeline = timeline

    def read_metadata(self):
        with self.timeline.detail("read_metadata"):
            return super().read_metadata()

    def read_data(self, plan, planner):
        future = super().read_data(plan, planner)
        future.wait()
        self.timeline.mark("read")
        return future
