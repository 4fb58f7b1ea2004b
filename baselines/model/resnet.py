"""ResNet (v1.5) encoder in plain PyTorch with torchvision-identical parameter names.

The module tree is ``conv1, bn1, relu, maxpool, layer1..layer4`` with Bottleneck
blocks ``conv1/bn1, conv2/bn2 (3x3, carries stride and dilation), conv3/bn3`` and
``downsample.0`` (1x1 conv) / ``downsample.1`` (BN) in the first block of a layer,
so a torchvision ImageNet state dict (``resnet50-0676ba61.pth``,
``resnet50-11ad3fa6.pth`` or the legacy ``resnet50-19c8e357.pth``) loads from a
local file with :func:`load_torchvision_weights`.  There is no ``fc`` layer: the
classifier is dropped.  Weights are never downloaded.

``forward`` returns a dict of feature maps: ``res2`` (stride 4), ``res3`` (8),
``res4`` (16) and ``res5`` (16 or 32 depending on ``output_stride``), each
float (B, C, H/s, W/s).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch
from torch import nn


class Bottleneck(nn.Module):
    """ResNet v1.5 bottleneck: stride and dilation on the 3x3 conv."""

    expansion = 4

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        dilation: int = 1,
        downsample: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(
            planes, planes, 3, stride=stride, padding=dilation, dilation=dilation, bias=False
        )
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """ResNet encoder (no classifier).

    Args:
        layers: blocks per stage, (3, 4, 6, 3) for ResNet-50.
        width: channels of the stem and of the first stage's bottleneck (64 for
            ResNet-50; a small value such as 8 gives a tiny test network with the
            same structure).
        output_stride: 32 (no dilation), 16 (layer4 dilated) or 8 (layer3+4 dilated).
    """

    def __init__(
        self, layers: Sequence[int] = (3, 4, 6, 3), width: int = 64, output_stride: int = 16
    ) -> None:
        super().__init__()
        dilate = {32: (False, False, False), 16: (False, False, True), 8: (False, True, True)}
        if output_stride not in dilate:
            raise ValueError(f"output_stride must be 8, 16 or 32, got {output_stride}")
        if len(layers) != 4:
            raise ValueError(f"layers must have 4 entries, got {list(layers)}")
        self.layers = list(layers)
        self.width = width
        self.inplanes = width
        self.dilation = 1
        self.conv1 = nn.Conv2d(3, width, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        d = dilate[output_stride]
        self.layer1 = self._make_layer(width, layers[0])
        self.layer2 = self._make_layer(width * 2, layers[1], stride=2, dilate=d[0])
        self.layer3 = self._make_layer(width * 4, layers[2], stride=2, dilate=d[1])
        self.layer4 = self._make_layer(width * 8, layers[3], stride=2, dilate=d[2])
        self.channels = {
            "res2": width * 4,
            "res3": width * 8,
            "res4": width * 16,
            "res5": width * 32,
        }
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def _make_layer(
        self, planes: int, blocks: int, stride: int = 1, dilate: bool = False
    ) -> nn.Sequential:
        previous_dilation = self.dilation
        if dilate:
            self.dilation *= stride
            stride = 1
        downsample = None
        if stride != 1 or self.inplanes != planes * Bottleneck.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * Bottleneck.expansion, 1, stride=stride, bias=False),
                nn.BatchNorm2d(planes * Bottleneck.expansion),
            )
        mods = [Bottleneck(self.inplanes, planes, stride, previous_dilation, downsample)]
        self.inplanes = planes * Bottleneck.expansion
        for _ in range(1, blocks):
            mods.append(Bottleneck(self.inplanes, planes, dilation=self.dilation))
        return nn.Sequential(*mods)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        res2 = self.layer1(x)
        res3 = self.layer2(res2)
        res4 = self.layer3(res3)
        res5 = self.layer4(res4)
        return {"res2": res2, "res3": res3, "res4": res4, "res5": res5}


def resnet50(output_stride: int = 16) -> ResNet:
    """ResNet-50 with torchvision's parameter names."""
    return ResNet((3, 4, 6, 3), 64, output_stride)


def load_torchvision_weights(model: ResNet, path: str | os.PathLike[str]) -> None:
    """Load an ImageNet checkpoint in torchvision format from a local file.

    ``fc.*`` entries are dropped.  Every other tensor must match the encoder: a
    missing key (other than ``*.num_batches_tracked``, absent from legacy files), an
    unexpected key or a shape mismatch raises :class:`GossInputError` naming the first
    bad key and its shape.  Never downloads anything (see ``baselines.weights``).
    """
    from goss_bench.errors import GossInputError

    p = os.fspath(path)
    if not os.path.isfile(p):
        raise GossInputError(f"{p}: pretrained checkpoint not found "
                             "(fetch it with: python -m baselines.weights fetch resnet50)")
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 (torch raises many types for a bad file)
        raise GossInputError(f"{p}: not a readable PyTorch checkpoint ({type(exc).__name__}: "
                             f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise GossInputError(f"{p}: not a state dict of tensors")
    state = {k.removeprefix("module."): v for k, v in state.items() if not k.startswith("fc.")}
    own = model.state_dict()
    for k, v in state.items():
        if k not in own:
            raise GossInputError(
                f"{p}: unexpected tensor {k} {tuple(v.shape)}: not a torchvision ResNet state "
                f"dict for this encoder (layers {model.layers}, width {model.width})"
            )
        if own[k].shape != v.shape:
            raise GossInputError(
                f"{p}: shape mismatch for {k}: the file has {tuple(v.shape)}, the encoder "
                f"(layers {model.layers}, width {model.width}) needs {tuple(own[k].shape)}"
            )
    for k, v in own.items():
        if k not in state and not k.endswith("num_batches_tracked"):
            raise GossInputError(f"{p}: missing tensor {k} {tuple(v.shape)} "
                                 "(not a torchvision ResNet-50 state dict)")
    model.load_state_dict(state, strict=False)
