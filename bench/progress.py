"""The result file, rewritten whole after every case: on disk it is always valid JSON holding every finished case,
so an interrupted run loses only the case it was in. `run.complete` is false until every selected case is done.

Its layout is pytest-benchmark's own (built by its hooks) plus the suite's `run` and `untimed_cases`. The suite
writes it rather than pytest-benchmark, which writes once, at the end.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from bench.resume import merge
from bench.results_file import write_json_atomically


class ResultWriter:
    def __init__(self, config: pytest.Config, path: Path, previous: dict[str, Any] | None) -> None:
        self.config = config
        self.path = path
        self.previous = previous
        """The file this run resumes, whose cases come first in the new one."""
        self._infos: tuple[dict, dict] | None = None
        self.seconds = 0.0
        """Wall seconds spent in write() so far: a part of the run's wall-time accounting."""

    def _machine_and_commit(self) -> tuple[dict, dict]:
        if self._infos is None:  # once per run: they run git and read the CPU's details
            hook = self.config.hook
            commit = hook.pytest_benchmark_generate_commit_info(config=self.config)
            hook.pytest_benchmark_update_commit_info(config=self.config, commit_info=commit)
            self._infos = (self.config._benchmarksession.get_machine_info(), commit)
        return self._infos

    def build(self, complete: bool) -> dict[str, Any]:
        benchmarks = self.config._benchmarksession.benchmarks
        machine_info, commit_info = self._machine_and_commit()
        output = self.config.hook.pytest_benchmark_generate_json(
            config=self.config, benchmarks=benchmarks, include_data=True, machine_info=machine_info,
            commit_info=commit_info)
        self.config.hook.pytest_benchmark_update_json(config=self.config, benchmarks=benchmarks, output_json=output)
        if self.previous is not None:
            if "run" not in output:  # no case ran in this run: it continues the previous one unchanged
                output["run"] = {**self.previous["run"], "status_counts": {}, "cases": 0}
            merge(self.previous, output)
        output["run"]["complete"] = complete
        return output

    def write(self, complete: bool) -> None:
        began = time.perf_counter()
        try:
            write_json_atomically(self.path, self.build(complete))
        finally:
            self.seconds += time.perf_counter() - began
