"""Walking state dicts: byte counts, snapshots and the equality check that decides `correct`."""

import torch

from bench.ops.state_tree import first_difference, perturb_, snapshot, state_bytes, tensor_count


def _state():
    return {"weight": torch.ones(4, 2), "bias": torch.zeros(4, dtype=torch.float64),
            "state": {0: {"step": torch.tensor(3.0), "exp_avg": torch.full((2,), 0.5)}},
            "param_groups": [{"lr": 0.001, "params": [0]}]}


def test_bytes_and_tensor_count_of_plain_tensors():
    global_bytes, local_bytes = state_bytes(_state())
    assert global_bytes == local_bytes == 8 * 4 + 4 * 8 + 4 + 2 * 4
    assert tensor_count(_state()) == 4


def test_equal_state_has_no_difference():
    state = _state()
    assert first_difference(snapshot(state), _state()) is None


def test_changed_value_is_found():
    expected = snapshot(_state())
    changed = _state()
    changed["state"][0]["exp_avg"][1] = 0.25
    assert first_difference(expected, changed) == "values differ at /state/0/exp_avg"


def test_changed_plain_value_and_missing_key_are_found():
    expected = snapshot(_state())
    changed = _state()
    changed["param_groups"][0]["lr"] = 0.01
    assert "param_groups/0/lr" in first_difference(expected, changed)
    del changed["bias"]
    assert first_difference(expected, changed).startswith("keys differ: missing ['/bias']")


def test_dtype_change_is_a_difference():
    expected = snapshot(_state())
    changed = _state()
    changed["weight"] = changed["weight"].double()
    assert first_difference(expected, changed) == "values differ at /weight"


def test_snapshot_is_a_copy():
    state = _state()
    expected = snapshot(state)
    state["weight"].add_(1)
    assert first_difference(expected, state) == "values differ at /weight"


def test_perturb_changes_every_floating_tensor():
    tensors = [torch.zeros(3), torch.zeros(2, dtype=torch.int64), torch.zeros(0)]
    assert perturb_(iter(tensors)) == 1
    assert torch.equal(tensors[0], torch.ones(3)) and torch.equal(tensors[1], torch.zeros(2, dtype=torch.int64))
