"""`--format pytorch-v3`: records of PyTorch's OSS benchmark database, schema v3 (pytorch/test-infra,
clickhouse_db_schema/benchmark.oss_ci_benchmark_v3/schema.sql), one per run, case and metric, as pytorch/ao's and
vLLM's dashboard jobs write them: `benchmark`, `model`, `metric`, and the `runners` and `dependencies` that the
upload action (.github/actions/upload-benchmark-results) keeps when a record has them. The job's own fields
(timestamp, repo, head_sha, workflow_id, job_id, ...) are the upload action's to add, so no record has them.

Every extra_info is a Map(String, String) in the table: its values are text (numbers as JSON, lists and objects as
JSON text). tests/schemas/oss_ci_benchmark_v3.schema.json is the table as a JSON schema; the tests check the
records against it.
"""

from __future__ import annotations

import json
from typing import Any

from analysis.case_samples import pass_key
from analysis.export.measures import Measure, MeasuredCases, measures
from analysis.export.sources import compare_side
from analysis.load import case_key
from bench.results.reader import options_label

BENCHMARK_NAME = "statedict-bench"
MODE = "training"
"""The table's modes are training and inference; getting and loading state dicts is training's work."""
NO_TARGET = 0.0
"""target_value where a benchmark has none (pytorch/ao writes 0.0 too)."""


def _text(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None else json.dumps(value)


def _texts(mapping: dict[str, Any]) -> dict[str, str]:
    """A Map(String, String): every value as text, absent ones left out."""
    return {key: _text(value) for key, value in mapping.items() if value is not None}


def runner(run: dict[str, Any]) -> dict[str, Any]:
    """The machine that ran the benchmark, as gather_runners_info.py describes a runner: name cuda or cpu, type the
    GPU's (else the CPU's) model."""
    machine = run.get("machine") or {}
    gpus = [str(gpu) for gpu in machine.get("gpus") or []]
    memory = machine.get("memory_bytes")
    return {"name": "cuda" if gpus else "cpu", "type": gpus[0] if gpus else str(machine.get("cpu") or ""),
            "cpu_info": str(machine.get("cpu") or ""), "cpu_count": int(machine.get("cores") or 0),
            "avail_mem_in_gb": int(memory // 2**30) if memory else 0, "gpu_info": gpus[0] if gpus else "",
            "gpu_count": len(gpus),
            "extra_info": _texts({"hostname": machine.get("hostname"), "system": machine.get("system"),
                                  "release": machine.get("release"), "driver": machine.get("driver"),
                                  "gpus": gpus or None})}


def dependencies(run: dict[str, Any]) -> dict[str, Any]:
    """torch's version and commit (and CUDA, NCCL, python), and the suite's commit."""
    torch, suite = run.get("torch") or {}, run.get("suite") or {}
    return {
        "pytorch": {"repo": "pytorch/pytorch", "branch": "", "sha": str(torch.get("git_version") or ""),
                    "version": str(torch.get("version") or ""),
                    "extra_info": _texts({"cuda": torch.get("cuda"), "nccl": torch.get("nccl"),
                                          "python": run.get("python")})},
        BENCHMARK_NAME: {"repo": "", "branch": "", "sha": str(suite.get("commit") or ""), "version": "",
                         "extra_info": _texts({"dirty": suite.get("dirty")})},
    }


def _case(record: dict[str, Any], run: dict[str, Any]) -> dict[str, Any]:
    """The record's benchmark and model: the case's fields; `case_id` names the case, stable across runs."""
    mesh = "x".join(map(str, record["mesh_shape"]))
    benchmark_info = {"case_id": case_key(record), "api": record["api"], "op": record["op"],
                      "state_dict_type": record.get("state_dict_type"),
                      "options": options_label(record.get("options")), "world_size": record["world_size"],
                      "mesh": mesh, "device": record.get("device"), "backend": record.get("backend"),
                      "simulated": bool(record.get("simulated")), "bytes_global": record.get("bytes_global"),
                      "profile": run.get("profile")}
    return {
        "benchmark": {"name": BENCHMARK_NAME, "mode": MODE, "dtype": str(record.get("dtype") or ""),
                      "extra_info": _texts(benchmark_info)},
        "model": {"name": str(record.get("model") or ""), "type": "model zoo", "backend": str(record["api"]),
                  "origins": [BENCHMARK_NAME],
                  "extra_info": _texts({"params": record.get("params"), "tensors": record.get("tensors"),
                                        "uneven": record.get("uneven")})},
    }


def _metric(measure: Measure, run_info: dict[str, Any]) -> dict[str, Any]:
    info = {"unit": measure.unit, "sample": measure.sample, "per_rank": measure.per_rank or None, **run_info}
    return {"name": measure.name, "benchmark_values": measure.values, "target_value": NO_TARGET,
            "extra_info": _texts(info)}


def v3_records(cases: MeasuredCases) -> list[dict[str, Any]]:
    """A record per measured case of every run and each of its measures."""
    out = []
    for path, run, record in cases.cases:
        run_info = {"run": path.stem, "run_started_at": run.get("started_at"), "compare_pass": pass_key(str(path)),
                    "compare_side": compare_side(run)}
        case, shared = _case(record, run), {"runners": [runner(run)], "dependencies": dependencies(run)}
        out += [{**case, "metric": _metric(m, run_info), **shared} for m in measures(record)]
    return out
