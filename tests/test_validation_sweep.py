"""scripts/findings/validation_sweep.py on torchtitan's debug model: DCP's plan validation checks every chunk pair of
the tensors whose longest dim is not FSDP's dim 0 (its w2, 256 x 768), as the scale findings say. It fails, and
says so, once torch's validation no longer compares all of those pairs."""

import importlib.util
from pathlib import Path

from bench.ops.plan_sim import unvalidated_global_plan
from models.catalog import model_entry

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "findings" / "validation_sweep.py"


def _script():
    spec = importlib.util.spec_from_file_location("validation_sweep", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_validation_compares_all_pairs_of_the_tensors_it_sweeps_whole():
    sweep = _script()
    shape = model_entry("llama3_debug").shape
    ranks = 32
    global_plan, metadata = unvalidated_global_plan(sweep.fsdp2_save_plans(shape.tensor_shapes(), ranks))
    # one chunk per rank of every tensor and of its two Adam moments (every dim 0 here is at least 32 rows)
    assert sum(len(entry.chunks) for entry in metadata.state_dict_metadata.values()) == 3 * ranks * len(
        shape.tensor_shapes())
    swept_whole = 3 * shape.layers  # w2 of each block, with its moments: the only tensors longer in dim 1
    assert sweep.all_pairs(metadata) == swept_whole * ranks * (ranks - 1) // 2
    assert sweep.counted_checks(global_plan, metadata) == sweep.all_pairs(metadata), (
        "torch's _validate_global_plan no longer compares all chunk pairs of these tensors: "
        "docs/findings/2026-12-07-scale.md's coordinator section is out of date")
    assert sweep.timed_validation(global_plan, metadata) >= 0
