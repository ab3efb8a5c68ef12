"""FSDP1 (FullyShardedDataParallel): model and optimizer state dicts, get and load, for each state-dict type."""

from __future__ import annotations

from typing import Any

from bench.ops.base import LoadOperation, Operation
from bench.ops.state_tree import perturb_model_, perturb_optimizer_
from bench.ops.wrapping import build_fsdp1


def _configs(state_dict_type: str, options: dict[str, Any]):
    from torch.distributed.fsdp import (FullOptimStateDictConfig, FullStateDictConfig, LocalOptimStateDictConfig,
                                        LocalStateDictConfig, ShardedOptimStateDictConfig, ShardedStateDictConfig,
                                        StateDictType)

    if state_dict_type == "full":
        flags = dict(offload_to_cpu=options["offload_to_cpu"], rank0_only=options["rank0_only"])
        return StateDictType.FULL_STATE_DICT, FullStateDictConfig(**flags), FullOptimStateDictConfig(**flags)
    if state_dict_type == "local":
        return StateDictType.LOCAL_STATE_DICT, LocalStateDictConfig(), LocalOptimStateDictConfig()
    return StateDictType.SHARDED_STATE_DICT, ShardedStateDictConfig(), ShardedOptimStateDictConfig()


class FSDP1Operation(Operation):
    """Builds the FSDP1 model with the case's mesh and use_orig_params setting, and sets its state-dict type."""

    def setup(self) -> None:
        from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

        self.FSDP = FSDP
        self.model, self.optim = build_fsdp1(
            self.ctx, self.spec["model"], use_mesh=self.options.get("use_mesh", True),
            use_orig_params=self.options.get("use_orig_params", True))
        FSDP.set_state_dict_type(self.model, *_configs(self.spec["state_dict_type"], self.options))

    def model_state(self) -> dict:
        return self.model.state_dict()

    def optim_state(self) -> dict:
        return self.FSDP.optim_state_dict(self.model, self.optim)


class GetModel(FSDP1Operation):
    def run(self) -> dict:
        return self.model_state()


class GetOptim(FSDP1Operation):
    def run(self) -> dict:
        return self.optim_state()


class SetModel(LoadOperation, FSDP1Operation):
    """model.load_state_dict of a state dict of the case's type."""

    def state_to_load(self) -> dict:
        return self.model_state()

    reference_state = state_to_load

    def perturb(self) -> None:
        perturb_model_(self.model)

    def run(self) -> Any:
        return self.model.load_state_dict(self.to_load)


class SetOptim(LoadOperation, FSDP1Operation):
    """FSDP.optim_state_dict_to_load then optim.load_state_dict."""

    def state_to_load(self) -> dict:
        return self.optim_state()

    reference_state = state_to_load

    def perturb(self) -> None:
        perturb_optimizer_(self.optim)

    def run(self) -> None:
        self.optim.load_state_dict(self.FSDP.optim_state_dict_to_load(self.model, self.optim, self.to_load))


OPERATIONS = {"get_model": GetModel, "get_optim": GetOptim, "set_model": SetModel, "set_optim": SetOptim}
