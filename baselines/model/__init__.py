"""Networks of the GOSS baselines (plain PyTorch; torchvision is never imported)."""

from baselines.model.gst import GSTModel, GSTOutput, build_model, num_outputs_for
from baselines.model.resnet import ResNet, load_torchvision_weights, resnet50

__all__ = [
    "GSTModel",
    "GSTOutput",
    "ResNet",
    "build_model",
    "load_torchvision_weights",
    "num_outputs_for",
    "resnet50",
]
