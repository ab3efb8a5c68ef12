"""Simulated worlds (bench/rank/simulated.py): one process plays one rank of a large world on a fake process group.

Records must say so (backend fake, simulated true, the rank played, world_size N); the planner simulation's work
must grow with the rank count; the quick profile must hold the cases; the analysis must label them."""

from __future__ import annotations

import re

import numpy as np
import pytest

from bench.ops.matrix import Case, expand, simulated_cases
from bench.config.profiles import PROFILES
from bench.results.schema import WRITTEN_FIELDS
from bench.config.selection import select
from bench.run.session import BenchSession
from bench.results.summary import format_table, table_rows
from tests import result_files as rf
from tests.conftest import TEST_ROUNDS

STATE_DICT_OPS = ("get_model", "get_optim", "set_model", "set_optim")


def _quick_cases(meshes=(), world_size=None, models=()) -> list[Case]:
    selection = select("quick", list(models), list(meshes), world_size, {})
    profile = selection.profile
    return (expand(selection.meshes, selection.models, selection.checkpoint_models)
            + simulated_cases(selection.simulated_models, profile.simulated_fsdp2_ranks, profile.simulated_plan_ranks))


def test_quick_profile_has_fsdp2_at_1024_and_planning_at_three_rank_counts():
    simulated = [c for c in _quick_cases() if c.simulated]
    fsdp2 = {(c.op, c.world_size, c.model) for c in simulated if c.api == "fsdp2"}
    assert {(op, 1024, "transformer_1m") for op in STATE_DICT_OPS} <= fsdp2
    assert all(c.state_dict_type == "sharded" for c in simulated)  # full state dicts need real all-gathers
    plan_ranks = {c.world_size for c in simulated if (c.api, c.op) == ("dcp", "plan")}
    assert len(plan_ranks) >= 3 and {8, 1024} <= plan_ranks
    for name in ("nightly", "full"):
        assert max(PROFILES[name].simulated_plan_ranks) == 4096 == max(PROFILES[name].simulated_fsdp2_ranks)
    assert all(c.process_count == 1 for c in simulated) and "simulated_1" in simulated[0].id


@pytest.mark.parametrize("meshes, world_size", [(["2"], None), ([], 4), (["1024"], None)])
def test_naming_a_world_asks_for_real_ranks_only(meshes, world_size):
    cases = _quick_cases(meshes, world_size)
    assert cases and not any(c.simulated for c in cases)


def test_named_models_are_simulated_too():
    simulated = [c for c in _quick_cases(models=["dummy"]) if c.simulated]
    assert simulated and {c.model for c in simulated} == {"dummy"}


@pytest.fixture(scope="module")
def simulated_records(tmp_path_factory):
    """Every simulated FSDP2 op at 256 ranks and the planner at 8 and 256: two one-process worlds."""
    session = BenchSession(PROFILES["quick"], TEST_ROUNDS, checkpoint_parent=str(tmp_path_factory.mktemp("ckpt")),
                           ceiling_bytes=8 * 2**20)
    try:
        cases = simulated_cases(["transformer_1m"], (256,), (8, 256))
        yield {(c.api, c.op, c.world_size): session.measure(c) for c in cases}, session.pool.start_stats()
    finally:
        session.close()


def test_simulated_records_are_complete_and_labelled(simulated_records):
    records, (starts, _) = simulated_records
    assert starts == 2  # one process per simulated rank count, however many ranks it plays
    for (api, op, world_size), record in records.items():
        assert record["status"] == "ok", record["message"]
        assert not [name for name in WRITTEN_FIELDS if name not in record]
        assert record["backend"] == "fake" and record["simulated"] is True and record["simulated_rank"] == 0
        assert record["world_size"] == world_size and record["mesh_shape"] == [world_size]
        assert record["options"]["simulated"] is True
        assert all(len(row) == 1 for row in record["rank_times_s"])  # the one rank it played
        assert len(record["round_times_s"]) == TEST_ROUNDS.min_rounds
        # loads are local round trips and are checked; a get has nothing to compare against
        assert record["correct"] is (None if op.startswith("get_") else True)


def test_simulated_shards_are_those_of_the_simulated_world(simulated_records):
    records, _ = simulated_records
    model = records[("fsdp2", "get_model", 256)]
    # rank 0 of 256 holds about 1/256 of the state (more where dim 0 is under 256 rows: one row of each)
    assert model["bytes_per_rank"][0] * 100 < model["bytes_global"]


def test_planner_items_grow_with_rank_count(simulated_records):
    """What the planner is given and makes grows with the ranks; how its time grows is a measurement (the report's
    planner chart, docs/findings/), not something a test on a shared machine may assert."""
    records, _ = simulated_records
    small, large = records[("dcp", "plan", 8)], records[("dcp", "plan", 256)]
    assert large["write_items_local"] == 32 * small["write_items_local"]  # every rank plans every tensor
    assert large["write_items_global"] > 10 * small["write_items_global"]


def _simulated_file(tmp_path):
    rng = np.random.default_rng(1)
    records = []
    for world in (8, 256, 1024):
        fields = {"api": "dcp", "op": "plan", "state_dict_type": "sharded",
                  "options": {"simulated": True, "source": "fsdp2"}, "model": "transformer_1m",
                  "mesh_shape": [world], "case_id": f"dcp-plan-sharded-simulated_1-transformer_1m-mesh{world}"}
        records.append(rf.record(fields, rf.noisy_rounds(rng, 1e-4 * world, 5), ranks=1, backend="fake",
                                 simulated=True, simulated_rank=0, write_items_global=20 * world,
                                 peak_rss_bytes=[2**20]))
    fields = {"api": "fsdp2", "op": "get_model", "state_dict_type": "sharded",
              "options": {"method": "dsd", "simulated": True}, "model": "transformer_1m", "mesh_shape": [1024],
              "case_id": "fsdp2-get_model-sharded-method_dsd-simulated_1-transformer_1m-mesh1024"}
    records.append(rf.record(fields, rf.noisy_rounds(rng, 0.005, 5), ranks=1, backend="fake", simulated=True,
                             simulated_rank=0, peak_rss_bytes=[2**20]))
    real = {**rf.case_fields(0, (2,)), "api": "fsdp2", "op": "get_model", "options": {"method": "dsd"}}
    records.append(rf.record(real, rf.noisy_rounds(rng, 0.004, 5)))  # a real case, from a file without the field
    return rf.write(tmp_path / "sim.json", rf.result(records))


def test_report_labels_simulated_cases_and_charts_planner_cost(tmp_path):
    from analysis.report import write_report

    page = write_report(_simulated_file(tmp_path), tmp_path / "out").read_text()
    section = page[page.index('<h2 id="simulated">Simulated scale: simulated (fake PG)'):]
    table = section[section.index('id="planner-cost"'):]
    table = table[:table.index("</table>")]
    assert "<td>1024</td>" in table and "20,480" in table  # ranks and the global plan's items
    # the scaling figures draw the simulated lines dashed and say so in their legends, beside the real ones
    scaling = page[page.index('<h2 id="scaling">'):page.index('<h2 id="simulated">')]
    assert 'data-name="scaling_time_dcp_plan"' in scaling and 'data-name="scaling_time_fsdp2_get_model"' in scaling
    assert (tmp_path / "out" / "scaling_time_dcp_plan.png").read_bytes().startswith(b"\x89PNG")
    assert re.search(r"N\^(0\.9\d|1\.0\d) \[[^]]+\] \(simulated\)", scaling)  # planning time grows as 1e-4 s x N


def test_frame_and_summary_mark_simulated_rows(tmp_path):
    from analysis.load import load_frame, read_result_file, records_of

    path = _simulated_file(tmp_path)
    frame = load_frame(path)
    assert frame["simulated"].sum() == 4 and (~frame["simulated"]).sum() == 1
    rows = table_rows(records_of(read_result_file(path)))
    meshes = [row[5] for row in rows]
    assert meshes.count("1024 sim") == 2 and "2" in meshes
    assert "1024 sim" in format_table(rows)
