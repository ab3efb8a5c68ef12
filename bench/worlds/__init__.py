"""The parent's side of the ranks: local worlds of forked processes, worlds a launcher (torchrun, srun)
started, and the launcher's environment."""
