"""The model zoo: the dummy models of PyTorch's FSDP state-dict tests and sized MLP / transformer models."""

from models.zoo import MODEL_NAMES, ModelSpec, get_model_spec, UnknownModelError

__all__ = ["MODEL_NAMES", "ModelSpec", "get_model_spec", "UnknownModelError"]
