"""statedict-bench: benchmarks of PyTorch state-dict save and load in distributed training."""
