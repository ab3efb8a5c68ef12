"""The case matrix and profiles: what each mesh and model expands to, and bad input refused clearly."""

import pytest

from bench.ops.matrix import API_OPS, Case, expand, simulated_cases
from bench.ops.simulations import Simulation, scale_cases
from bench.config.profiles import PROFILES, RoundSettings, UnknownProfileError, get_profile


def _select(cases, **fields):
    return [c for c in cases if all(getattr(c, k) == v for k, v in fields.items() if k != "options")
            and all(c.options_dict.get(k) == v for k, v in fields.get("options", {}).items())]


def test_ids_are_unique_and_cases_grouped_by_mesh():
    cases = expand([(1,), (2,), (4,), (2, 2)], ["dummy", "dummy_uneven"])
    assert len({c.id for c in cases}) == len(cases)
    meshes = [c.mesh_shape for c in cases]
    # each mesh shape appears as one contiguous run, so one world serves it
    runs = [m for i, m in enumerate(meshes) if i == 0 or meshes[i - 1] != m]
    assert runs == [(1,), (2,), (4,), (2, 2)]


def test_one_null_case_per_mesh():
    cases = expand([(2,), (2, 2)], ["dummy", "transformer_1m"])
    nulls = _select(cases, api="null")
    assert [c.mesh_shape for c in nulls] == [(2,), (2, 2)]
    assert all(c.op == "noop" and c.model is None for c in nulls)


def test_fsdp1_full_has_every_rank0_only_offload_combination_for_model_and_optimizer():
    cases = expand([(4,)], ["dummy"])
    full = _select(cases, api="fsdp1", state_dict_type="full")
    combos = {(c.op, c.options_dict["rank0_only"], c.options_dict["offload_to_cpu"]) for c in full}
    assert combos == {(op, r, o) for op in ("get_model", "get_optim") for r in (False, True) for o in (False, True)}


def test_local_state_dict_offered_with_mesh_and_without_mesh_with_flat_params():
    cases = expand([(2,)], ["dummy"])
    with_mesh = _select(cases, api="fsdp1", state_dict_type="local", options={"use_mesh": True})
    without = _select(cases, api="fsdp1", state_dict_type="local", options={"use_mesh": False})
    assert [c.op for c in with_mesh] == ["get_model"]
    assert {c.op for c in without} == {"get_model", "set_model"}
    assert all(c.options_dict["use_orig_params"] is False for c in without)


def test_2d_mesh_has_hsdp_cases_but_no_meshless_fsdp1():
    cases = expand([(2, 2)], ["dummy"])
    assert not _select(cases, api="fsdp1", options={"use_mesh": False})
    assert {c.op for c in _select(cases, api="fsdp1", state_dict_type="sharded")} == {
        "get_model", "get_optim", "set_model", "set_optim"}
    assert len(_select(cases, api="fsdp2")) == 9
    assert all(c.world_size == 4 for c in cases)


def test_fsdp2_and_serialization_cases():
    cases = expand([(2,)], ["dummy"])
    fsdp2 = _select(cases, api="fsdp2")
    assert {(c.op, c.state_dict_type, c.options_dict.get("cpu_offload", False),
             c.options_dict.get("broadcast_from_rank0", False)) for c in fsdp2 if c.options_dict["method"] == "dsd"} \
        == {("get_model", "sharded", False, False), ("get_optim", "sharded", False, False),
            ("get_model", "full", True, False), ("get_optim", "full", True, False),
            ("set_model", "sharded", False, False), ("set_optim", "sharded", False, False),
            ("set_model", "full", False, True), ("set_optim", "full", False, True)}
    assert _select(fsdp2, options={"method": "module_state_dict"})[0].op == "get_model"
    serial = [c for c in _select(cases, api="torch_save") if "state" in c.options_dict]
    assert {(c.op, c.options_dict["state"]) for c in serial} == {
        (op, s) for op in ("serialize", "deserialize") for s in ("model", "optim")}


def test_checkpoint_cases_cover_writer_options_async_modes_caches_and_baselines():
    cases = expand([(2,)], ["dummy"])
    saves = _select(cases, api="dcp", op="save", options={"source": "fsdp2"})
    assert {(c.options_dict["thread_count"], c.options_dict["single_file_per_rank"]) for c in saves} == {
        (1, True), (1, False), (4, True), (4, False)}
    assert _select(cases, api="dcp", op="save", options={"source": "fsdp1"})
    assert {(c.options_dict["mode"], c.options_dict["staging"]) for c in _select(cases, op="async_save")} == {
        ("thread", "default"), ("process", "default"), ("thread", "pinned")}
    loads = _select(cases, api="dcp", op="load")
    assert {(c.options_dict["source"], c.options_dict["page_cache"]) for c in loads} == {
        ("fsdp2", "cold"), ("fsdp2", "warm"), ("fsdp1", "cold")}
    files = [c for c in _select(cases, api="torch_save") if "layout" in c.options_dict]
    assert {(c.op, c.options_dict["layout"], c.state_dict_type) for c in files} == {
        (op, "per_rank", "sharded") for op in ("save", "load")} | {(op, "rank0_full", "full") for op in ("save", "load")}


def test_resharding_pairs_follow_the_meshes_of_the_run():
    cases = expand([(1,), (2,), (4,), (2, 2)], ["dummy"])
    reshard = [c for c in cases if "saved_on" in c.options_dict]
    assert {(c.options_dict["saved_on"], c.mesh_label) for c in reshard} == {
        ("2", "4"), ("4", "2"), ("4", "1"), ("1", "4"), ("2x2", "4")}
    assert not [c for c in expand([(2,), (4,)], ["dummy"]) if c.options_dict.get("saved_on") in ("1", "2x2")]


def test_checkpoint_cases_only_for_the_profiles_checkpoint_models():
    cases = expand([(2,)], ["dummy", "transformer_1m"], checkpoint_models=["transformer_1m"])
    assert {c.model for c in _select(cases, api="dcp")} == {"transformer_1m"}
    assert {c.model for c in _select(cases, api="fsdp2")} == {"dummy", "transformer_1m"}


def test_quick_profile_covers_all_meshes_and_even_and_uneven_models():
    from models import get_model_spec

    quick = get_profile("quick")
    assert set(quick.mesh_shapes) == {(1,), (2,), (4,), (2, 2)}
    assert {get_model_spec(m).uneven for m in quick.models} == {True, False}
    assert "dummy" in quick.models and "dummy_uneven" in quick.models
    assert {get_model_spec(m).uneven for m in quick.checkpoint_models} == {True, False}


def test_case_validation():
    with pytest.raises(ValueError, match="unknown api"):
        Case(api="ddp", op="get_model", state_dict_type=None)
    with pytest.raises(ValueError, match="mesh shape"):
        Case(api="null", op="noop", state_dict_type=None, mesh_shape=(0,))
    with pytest.raises(ValueError, match="mesh shape"):
        Case(api="null", op="noop", state_dict_type=None, mesh_shape=(2, 2, 2))
    with pytest.raises(ValueError, match="unknown op 'save' of api 'fsdp2'"):
        Case(api="fsdp2", op="save", state_dict_type="sharded")


def test_every_op_of_the_matrix_has_its_operation_and_no_other_is_registered():
    """API_OPS (what the pytest process may ask for) and the registry (what a rank can run) say the same."""
    from bench.ops.registry import _REGISTRY

    assert {api: set(ops) for api, ops in _REGISTRY.items()} == {api: set(ops) for api, ops in API_OPS.items()}
    cases = (expand([(1,), (2,), (2, 2)], ["dummy"]) + simulated_cases(["dummy"], (8,), (8,))
             + scale_cases([Simulation(kind="planning", models=("dummy",), ranks=(8,))]))
    assert {(c.api, c.op) for c in cases} == {(api, op) for api, ops in API_OPS.items() for op in ops}


def test_profiles_and_round_settings():
    assert set(PROFILES) == {"quick", "nightly", "full", "gpu", "scale", "scale-full"}
    scale, full = (set(c.id for c in scale_cases(PROFILES[p].simulations)) for p in ("scale", "scale-full"))
    assert scale < full and {case.split("-")[1] for case in full - scale} == {"plan"}
    assert {case.rsplit("-", 1)[1] for case in full - scale} == {"mesh16384"}
    with pytest.raises(UnknownProfileError, match="unknown profile 'fast'; choose from quick, nightly, full, scale, scale-full, gpu"):
        get_profile("fast")
    with pytest.raises(ValueError, match="min_rounds must be >= 1"):
        RoundSettings(min_rounds=0)
    with pytest.raises(ValueError, match="max_rounds"):
        RoundSettings(min_rounds=10, max_rounds=5)
    with pytest.raises(ValueError, match="warmup_rounds"):
        RoundSettings(warmup_rounds=-1)


def test_scale_simulations_expand_by_layout_and_filter_ops():
    """A simulation's meshes follow its layout; planning adds the resharded load; `ops` and the model filter keep
    only theirs; cases come grouped by mesh, then model."""
    tp = Simulation(kind="state_dict", models=("llama3_8b",), ranks=(256,), layout="tp", group=8)
    assert {c.mesh_shape for c in tp.cases("llama3_8b", 256)} == {(32, 8)}
    assert all(c.options_dict["parallel"] == "tp" and c.simulated for c in tp.cases("llama3_8b", 256))
    hsdp = Simulation(kind="planning", models=("llama3_8b",), ranks=(1024,), layout="hsdp", group=64)
    assert [(c.op, c.mesh_shape, c.options_dict.get("saved_ranks")) for c in hsdp.cases("llama3_8b", 1024)] == [
        ("plan_local", (16, 64), None), ("plan", (16, 64), None), ("plan_load", (16, 64), 1024)]
    flat = Simulation(kind="planning", models=("a",), ranks=(256,), ops=("plan_load",))
    assert [c.options_dict["saved_ranks"] for c in flat.cases("llama3_8b", 256)] == [256, 128]
    cases = scale_cases([tp, Simulation(kind="state_dict", models=("llama3_70b", "llama3_8b"), ranks=(1024, 256))],
                        models=["llama3_8b", "llama3_70b"])
    assert [(c.world_size, c.mesh_shape, c.model) for c in cases][::4] == [
        (256, (32, 8), "llama3_8b"), (256, (256,), "llama3_8b"), (256, (256,), "llama3_70b"),
        (1024, (1024,), "llama3_8b"), (1024, (1024,), "llama3_70b")]
    assert scale_cases([tp], models=["llama3_70b"]) == []
    with pytest.raises(ValueError, match="multiple of group"):
        Simulation(kind="state_dict", models=("x",), ranks=(100,), layout="tp", group=8)
