"""What checkpoint operations share: the model under its source wrapper, the case's folder, durability, a fresh
folder per save round with a load-back check afterwards, and loads that start each round perturbed and cold."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch.distributed.checkpoint import state_dict as dsd

from bench.machine.checkpoint_files import drop_page_cache, fsync_with_names, remove_tree, resident_fraction, tree_size
from bench.ops.base import Operation
from bench.ops.state_tree import first_difference, perturb_model_, perturb_optimizer_, snapshot
from bench.ops.wrapping import build_fsdp1, build_fsdp2


def checkpoint_state(model, optim, **options: Any) -> dict[str, Any]:
    """Model + optimizer state as a checkpoint holds it (get_state_dict), with these StateDictOptions."""
    model_state, optim_state = dsd.get_state_dict(model, optim,
                                                  options=dsd.StateDictOptions(**options) if options else None)
    return {"model": model_state, "optim": optim_state}


class CheckpointOperation(Operation):
    """Builds the model under the case's source wrapper; knows the case's folder and whether saves are fsync'd."""

    def setup(self) -> None:
        if self.options.get("source", "fsdp2") == "fsdp1":
            self.model, self.optim = build_fsdp1(self.ctx, self.spec["model"], use_mesh=True, use_orig_params=True)
        else:
            self.model, self.optim = build_fsdp2(self.ctx, self.spec["model"])
        self.folder = Path(self.spec["checkpoint_dir"])
        self.fsync = bool(self.spec.get("fsync", True))
        self.effective_options["fsync"] = self.fsync

    def state(self, **options: Any) -> dict[str, Any]:
        return checkpoint_state(self.model, self.optim, **options)

    def apply(self, state: dict[str, Any]) -> None:
        dsd.set_state_dict(self.model, self.optim, model_state_dict=state["model"], optim_state_dict=state["optim"])

    def perturb(self) -> None:
        perturb_model_(self.model)
        perturb_optimizer_(self.optim)

    def make_durable(self, folder: Path) -> None:
        """Rank 0 wrote the metadata: fsync it, the folder and the folder's parent (the new name)."""
        if self.fsync and self.ctx.rank == 0:
            fsync_with_names(sorted(folder.glob(".metadata*")), folder)

    def counted_state(self, last_result: Any) -> Any:
        """What a checkpoint op moves is the model + optimizer state, whatever the round returned."""
        return self.state()

    def record_files(self, folder: Path) -> None:
        self.extra["bytes_written"], self.extra["files_written"] = tree_size(folder)


class SavingOperation(CheckpointOperation):
    """A fresh folder per round; afterwards the last one is loaded back into a perturbed model and compared."""

    def setup(self) -> None:
        super().setup()
        self.expected = snapshot(self.state())
        self.rounds = 0

    def before_round(self) -> None:
        if self.ctx.rank == 0 and self.rounds:
            remove_tree(self.round_folder)  # every rank passed the previous round's closing all-reduce
        self.rounds += 1
        self.round_folder.mkdir(parents=True, exist_ok=True)

    @property
    def round_folder(self) -> Path:
        return self.folder / f"save-{self.rounds}"

    def load_back(self, folder: Path) -> None:
        """Load what a round saved into the live model and optimizer."""
        raise NotImplementedError

    def verify(self, last_result: Path) -> bool:
        self.record_files(last_result)
        self.perturb()
        self.load_back(last_result)
        return self.report(first_difference(self.expected, self.state()))


class LoadingOperation(CheckpointOperation):
    """Reads `self.checkpoint` (set by setup) each round into a perturbed model, with the page cache dropped first
    unless the case asks for a warm read; afterwards the live state must equal `self.expected`."""

    def before_round(self) -> None:
        self.perturb()
        if self.options.get("page_cache", "cold") == "cold":
            drop_page_cache(self.checkpoint)
        self.extra["resident_before_read"] = resident_fraction(self.checkpoint)

    def verify(self, last_result: Any) -> bool:
        return self.report(first_difference(self.expected, self.state()))
