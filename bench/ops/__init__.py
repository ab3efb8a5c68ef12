"""What each case does, and which cases there are: the case matrix (matrix.py: pure Python, no torch, read by the
pytest process) and the operations a rank runs (registry.py and one module per api: they import torch)."""
