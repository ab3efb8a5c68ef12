"""The model zoo: names, sizes, uneven shapes, deterministic weights that do not depend on sharding."""

import math

import pytest
import torch

from models import MODEL_NAMES, UnknownModelError, get_model_spec
from models.init import build_on_meta, full_value, materialize_


def _materialized(name):
    model = build_on_meta(get_model_spec(name), torch.float32)
    materialize_(model, torch.device("cpu"), seed=0)
    return model


def test_dummy_models_match_pytorchs_test_shapes():
    shapes = [tuple(p.shape) for name, p in _materialized("dummy").named_parameters() if name.endswith("weight")]
    assert shapes == [(16, 8), (32, 16), (64, 32), (8, 64)]
    shapes = [tuple(p.shape) for name, p in _materialized("dummy_uneven").named_parameters()
              if name.endswith("weight")]
    assert shapes == [(10, 5), (15, 10), (30, 15), (5, 30)]


@pytest.mark.parametrize("size,low,high", [("1m", 0.8e6, 1.5e6), ("10m", 8e6, 15e6), ("100m", 80e6, 150e6),
                                           ("1b", 0.8e9, 1.5e9)])
def test_sized_presets(size, low, high):
    for family in ("mlp", "transformer"):
        for suffix in ("", "_uneven"):
            model = build_on_meta(get_model_spec(f"{family}_{size}{suffix}"), torch.float32)  # meta: no memory
            assert low <= sum(p.numel() for p in model.parameters()) <= high


def test_uneven_variants_have_dim0_divisible_by_neither_2_4_nor_8():
    for name in MODEL_NAMES:
        spec = get_model_spec(name)
        if not spec.uneven or spec.family == "dummy":
            continue
        model = build_on_meta(spec, torch.float32)
        assert all(p.shape[0] % 2 for p in model.parameters()), name


def test_transformer_has_many_tensors_and_mlp_few():
    assert len(list(build_on_meta(get_model_spec("transformer_1m"), torch.float32).parameters())) > 40
    assert len(list(build_on_meta(get_model_spec("mlp_1m"), torch.float32).parameters())) <= 10


def test_weights_are_deterministic_and_depend_on_name_and_seed():
    a, b = _materialized("transformer_1m"), _materialized("transformer_1m")
    for (name, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        assert torch.equal(pa, pb), name
    w = full_value("blocks.0.wq.weight", torch.Size([4, 4]), torch.float32, seed=0)
    assert not torch.equal(w, full_value("blocks.1.wq.weight", torch.Size([4, 4]), torch.float32, seed=0))
    assert not torch.equal(w, full_value("blocks.0.wq.weight", torch.Size([4, 4]), torch.float32, seed=1))


def test_models_run_forward():
    for name in ("dummy", "dummy_uneven", "mlp_1m_uneven", "transformer_1m_uneven"):
        model = _materialized(name)
        out = model(model.example_input(torch.device("cpu"), torch.float32))
        assert torch.isfinite(out).all()


def test_unknown_model_is_refused_with_the_known_names():
    with pytest.raises(UnknownModelError, match="unknown model 'gpt5'; known models: dummy, dummy_uneven"):
        get_model_spec("gpt5")


def test_real_shapes_have_the_published_tensor_and_parameter_counts():
    from models.catalog import CATALOG

    counts = {"llama3_8b": 291, "llama3_70b": 723, "llama3_405b": 1137, "llama3_debug": 57}
    for name, tensors in counts.items():
        shape = CATALOG[name].shape
        assert shape.tensor_count() == tensors == len(shape.tensor_shapes())
        assert sum(math.prod(s) for s in shape.tensor_shapes()) == shape.param_count()
    assert round(CATALOG["llama3_8b"].shape.param_count() / 1e9, 2) == 8.03
    assert round(CATALOG["llama3_debug"].shape.param_count() / 1e6, 1) == 6.2
    scaled = CATALOG["llama3_8b_w16"]
    assert scaled.shape.tensor_count() == 291 and scaled.scale()["width_divisor"] == 16


def test_rank_zero_holds_a_whole_expert_when_experts_are_fewer_than_ranks():
    """64 grouped experts over 256 ranks: rank 0 holds one expert of each grouped tensor (1/64 of it), an even
    share of the rest; ungrouped experts split evenly."""
    from models.catalog import CATALOG

    grouped, ungrouped = CATALOG["moe_16b"].shape, CATALOG["moe_16b_ungrouped"].shape
    experts = 3 * grouped.layers * grouped.experts * grouped.expert_ffn * grouped.dim
    assert grouped.largest_shard_params(256) >= experts // 64
    assert grouped.largest_shard_params(256) > 3.5 * grouped.param_count() / 256
    assert ungrouped.largest_shard_params(256) < 1.1 * ungrouped.param_count() / 256
    assert CATALOG["llama3_8b"].shape.largest_shard_params(1) == CATALOG["llama3_8b"].shape.param_count()
