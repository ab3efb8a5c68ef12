"""The result file, rewritten whole after every case: on disk it is always valid JSON holding every finished case,
so an interrupted run loses only the case it was in. `run.complete` is false until every selected case is done.

Its layout is pytest-benchmark's own (built by its hooks) plus the suite's `run` and `untimed_cases`. The suite
writes it rather than pytest-benchmark, which writes once, at the end.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from bench.results.resume import merge
from bench.results.files import atomic_binary_file


class ResultWriter:
    def __init__(self, config: pytest.Config, path: Path, previous: dict[str, Any] | None) -> None:
        self.config = config
        self.path = path
        self.previous = previous
        """The file this run resumes, whose cases come first in the new one."""
        self._infos: tuple[dict, dict] | None = None
        self.seconds = 0.0
        """Wall seconds spent in write() so far: a part of the run's wall-time accounting."""
        self._cases: dict[int, str] = {}
        """id of a finished benchmark -> its JSON, made once (text())."""

    def _machine_and_commit(self) -> tuple[dict, dict]:
        if self._infos is None:  # once per run: they run git and read the CPU's details
            hook = self.config.hook
            commit = hook.pytest_benchmark_generate_commit_info(config=self.config)
            hook.pytest_benchmark_update_commit_info(config=self.config, commit_info=commit)
            self._infos = (self.config._benchmarksession.get_machine_info(), commit)
        return self._infos

    def build(self, complete: bool, benchmarks: list | None = None) -> dict[str, Any]:
        """The file's content; `benchmarks`: the measured cases to include (default: all of them)."""
        if benchmarks is None:
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

    def text(self, complete: bool) -> tuple[str, dict[int, str]]:
        """The file as JSON text, and the measured cases' JSON that it newly serialised. A finished case does not
        change, so its JSON is made once and reused: re-serialising every case after each one cost 0.1 s a write at
        the end of a quick run (5.7% of its wall time). A resumed run takes the whole path (merge)."""
        if self.previous is not None:
            return json.dumps(self.build(complete)), {}
        benchmarks = [b for b in self.config._benchmarksession.benchmarks if not b.has_error]
        fresh = {id(b): json.dumps(b.as_dict(include_data=True)) for b in benchmarks if id(b) not in self._cases}
        output = self.build(complete, benchmarks=[])
        known = self._cases | fresh
        parts = [f"{json.dumps(key)}: "
                 + ("[" + ", ".join(known[id(b)] for b in benchmarks) + "]" if key == "benchmarks"
                    else json.dumps(value)) for key, value in output.items()]
        return "{" + ", ".join(parts) + "}", fresh

    def write(self, complete: bool) -> None:
        began = time.perf_counter()
        try:
            text, fresh = self.text(complete)
            with atomic_binary_file(self.path) as out:
                out.write(text.encode())
            self._cases.update(fresh)  # only once written: a case whose write failed is changed (status error)
        finally:
            self.seconds += time.perf_counter() - began
