"""The parent's side of the ranks: local worlds of forked processes, worlds a launcher (torchrun, srun) started,
and the one loop that waits for their replies and judges them (replies.py)."""
