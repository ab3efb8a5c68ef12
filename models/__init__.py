"""The model zoo: the dummy models of PyTorch's FSDP state-dict tests and sized MLP / transformer models.

The names (models/catalog.py) come without torch; the specs that build modules (models/zoo.py) import torch, so they
are loaded on first use: `from models import get_model_spec` imports the zoo, `from models.catalog import ...` not.
"""

from models.catalog import MODEL_NAMES, UnknownModelError


def __getattr__(name: str):
    if name in ("ModelSpec", "get_model_spec"):
        from models import zoo

        return getattr(zoo, name)
    raise AttributeError(f"module 'models' has no attribute {name!r}")


__all__ = ["MODEL_NAMES", "ModelSpec", "get_model_spec", "UnknownModelError"]
