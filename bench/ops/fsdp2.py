"""FSDP2 (fully_shard): module.state_dict() and torch.distributed.checkpoint.state_dict's get/set functions."""

from __future__ import annotations

from typing import Any

from bench.ops.base import LoadOperation, Operation
from bench.ops.state_tree import perturb_model_, perturb_optimizer_
from bench.ops.wrapping import build_fsdp2, resident_bytes


class FSDP2Operation(Operation):
    def setup(self) -> None:
        from torch.distributed.checkpoint import state_dict as dsd

        self.dsd = dsd
        self.model, self.optim = build_fsdp2(self.ctx, self.spec["model"],
                                             tensor_parallel=self.options.get("parallel") == "tp")
        self.state_options = dsd.StateDictOptions(
            full_state_dict=self.spec["state_dict_type"] == "full",
            cpu_offload=self.options.get("cpu_offload", False),
            broadcast_from_rank0=self.options.get("broadcast_from_rank0", False))
        if self.ctx.simulated:
            self.extra["rss_after_setup_bytes"] = resident_bytes()

    def model_state(self, options=None) -> dict:
        return self.dsd.get_model_state_dict(self.model, options=options or self.state_options)

    def optim_state(self, options=None) -> dict:
        return self.dsd.get_optimizer_state_dict(self.model, self.optim, options=options or self.state_options)


class GetModel(FSDP2Operation):
    def run(self) -> dict:
        if self.options.get("method") == "module_state_dict":
            return self.model.state_dict()
        return self.model_state()


class GetOptim(FSDP2Operation):
    def run(self) -> dict:
        return self.optim_state()


class _FSDP2Load(LoadOperation, FSDP2Operation):
    """The state to load is full (taken with cpu_offload: on rank 0 only) or sharded as the case says; the
    reference is always the sharded state. With broadcast_from_rank0 the other ranks pass an empty dict, as torch
    documents."""

    def take(self, options) -> dict:
        raise NotImplementedError

    def state_to_load(self) -> dict:
        if self.spec["state_dict_type"] != "full":
            return self.take(self.dsd.StateDictOptions())
        full = self.take(self.dsd.StateDictOptions(full_state_dict=True, cpu_offload=True))
        return {} if self.state_options.broadcast_from_rank0 and self.ctx.rank != 0 else full

    def reference_state(self) -> dict:
        return self.take(self.dsd.StateDictOptions())


class SetModel(_FSDP2Load):
    def take(self, options) -> dict:
        return self.model_state(options)

    def perturb(self) -> None:
        perturb_model_(self.model)

    def run(self) -> Any:
        return self.dsd.set_model_state_dict(self.model, self.to_load, options=self.state_options)


class SetOptim(_FSDP2Load):
    def take(self, options) -> dict:
        return self.optim_state(options)

    def perturb(self) -> None:
        perturb_optimizer_(self.optim)

    def run(self) -> None:
        self.dsd.set_optimizer_state_dict(self.model, self.optim, self.to_load, options=self.state_options)


OPERATIONS = {"get_model": GetModel, "get_optim": GetOptim, "set_model": SetModel, "set_optim": SetOptim}
