"""The report's scaling section on cases of known truth: simulated and real lines of any (api, op, model, options),
each line's fitted exponent in its legend, small multiples where a model has more than 8 variants, and the table of
figures at the largest simulated world size with the op's own figures."""

import html
import json
import re

import numpy as np
import pytest

from analysis.chart_facts import MAX_SERIES, chart_problems
from analysis.panel_charts import packed
from analysis.report import write_report
from tests import result_files as rf

SIMULATED = (256, 1024, 4096, 16384)
MODEL = "llama3_8b@w1/16"


def _simulated(op, world, seconds, **extra):
    fields = {"api": "dcp", "op": op, "state_dict_type": "sharded", "options": {"simulated": True, "source": "fsdp2"},
              "model": MODEL, "mesh_shape": [world], "case_id": f"dcp-{op}-sharded-simulated_1-{MODEL}-mesh{world}"}
    return rf.record(fields, [seconds] * 5, ranks=1, backend="fake", simulated=True, simulated_rank=0,
                     peak_rss_bytes=[world * 2**12], **extra)


def _variants(rng):
    """Twelve real variants of fsdp1 get_model on one model at 1, 2 and 4 ranks: full ones and sharded ones."""
    records = []
    for world in (1, 2, 4):
        for variant in range(12):
            sdt = "full" if variant < 7 else "sharded"
            fields = {**rf.case_fields(variant, (world,)), "api": "fsdp1", "op": "get_model", "state_dict_type": sdt,
                      "options": {"variant": variant}, "model": "mlp_1m",
                      "case_id": f"fsdp1-get_model-{sdt}-variant_{variant}-mlp_1m-mesh{world}"}
            records.append(rf.record(fields, rf.noisy_rounds(rng, 0.001 * world * (1 + variant / 10), 5), ranks=world))
    return records


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scaling")
    records = [_simulated("plan_load", n, 2e-7 * n**1.5, extra_per_rank=[{"metadata_bytes": 100 * n}])
               for n in SIMULATED]
    records += _variants(np.random.default_rng(3))
    run = rf.write(folder / "run.json", rf.result(records))
    return write_report(run, folder / "report").read_text()


def _facts(page, name):
    found = re.search(f'<figure class="chart" data-name="{name}" data-facts="([^"]+)"', page)
    assert found, name
    return json.loads(html.unescape(found.group(1)))


def test_a_simulated_power_law_shows_its_exact_exponent_marked_simulated_and_superlinear(page):
    facts = _facts(page, "scaling_time_dcp_plan_load")
    assert facts["title"] == "How does plan_load's time grow with ranks? (dcp)"
    assert facts["panels"][0]["title"].startswith(MODEL)
    assert facts["panels"][0]["legend"] == ["sharded · source=fsdp2: N^1.50 [1.50, 1.50] superlinear (simulated)"]
    memory = _facts(page, "scaling_memory_dcp_plan_load")  # peak RSS of 4 KiB per rank: linear, exactly
    assert memory["panels"][0]["legend"][0].endswith("N^1.00 [1.00, 1.00] (simulated)")


def test_more_variants_than_a_panel_holds_go_to_more_panels_of_one_state_dict_type_each(page):
    facts = _facts(page, "scaling_time_fsdp1_get_model")
    assert chart_problems(facts) == []
    assert [len(p["series"]) for p in facts["panels"]] == [7, 5]
    assert [p["title"] for p in facts["panels"]] == ["mlp_1m, 1 of 2\nfull", "mlp_1m, 2 of 2\nsharded"]
    assert facts["panels"][0]["legend"][0].startswith("variant=0: N^")  # named by what sets it apart


def test_largest_simulated_table_has_the_figures_at_16384_ranks_with_the_ops_own(page):
    table = page[page.index('id="largest-simulated"'):]
    table = table[:table.index("</table>")]
    header = re.findall(r"<th>([^<]+)</th>", table)
    assert header[-1] == "metadata_bytes" and "time growth" in header
    cells = re.findall(r"<td>([^<]*)</td>", table)
    assert cells[:4] == ["dcp · plan_load", MODEL, "sharded · source=fsdp2", "16,384"]
    assert f"{2e-7 * 16384**1.5 * 1e3:.3f}" in cells and "N^1.50 [1.50, 1.50] superlinear" in cells
    assert cells[-1] == "1,638,400"


def test_packing_keeps_groups_whole_where_they_fit():
    assert packed([[1] * 3, [2] * 4, [3] * 2]) == [[1, 1, 1, 2, 2, 2, 2], [3, 3]]
    assert packed([[1] * 10, [2]]) == [[1] * MAX_SERIES, [1, 1, 2]]


def test_a_model_planned_by_its_first_blocks_gets_its_full_depth_figure_labelled_extrapolated(tmp_path):
    """The depth-truncated variants of a 126-block model at 16,384 ranks, at 0.2 s + 0.5 s per block: the report's
    table reads 63.2 s (63,200 ms) at 126 blocks and says it is extrapolated."""
    records = []
    for layers in (1, 2, 4):
        model = f"llama3_405b_l{layers}"
        fields = {"api": "dcp", "op": "plan", "state_dict_type": "sharded",
                  "options": {"simulated": True, "source": "fsdp2"}, "model": model, "mesh_shape": [16384],
                  "case_id": f"dcp-plan-sharded-simulated_1-source_fsdp2-{model}-mesh16384"}
        records.append(rf.record(fields, [0.2 + 0.5 * layers] * 3, ranks=1, backend="fake", simulated=True,
                                 simulated_rank=0, model_scale={"of": "llama3_405b", "width_divisor": 1,
                                                                "layers": layers, "of_layers": 126}))
    run = rf.write(tmp_path / "run.json", rf.result(records))
    text = write_report(run, tmp_path / "report").read_text()
    table = re.search(r'<table id="extrapolated-full-depth".*?</table>', text, re.S)
    assert table, "no extrapolated table"
    assert "63,200" in table.group(0) or "63200" in table.group(0)
    assert "1, 2, 4 of 126" in table.group(0) and "Extrapolated, not measured" in text
