"""The GOSS baseline network: shared ResNet encoder, DeepLabV3+ classification
branch, Super-BPD clustering branch and an optional projection head (GST).

``forward(images)`` takes float (B, 3, H, W) normalised images and returns a
:class:`GSTOutput` with

* ``semantic``: float (B, C, H, W); C = N (N-model), N+1 (N+1-model) or the N-dim
  DML embedding (``head="dml"``),
* ``field``: float (B, 2, H, W) direction field or None,
* ``embedding``: float (B, D, H/16, W/16) unit-norm projections or None.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from baselines.model.bpd_head import BPDHead
from baselines.model.deeplabv3plus import DeepLabV3PlusHead
from baselines.model.projection import ProjectionHead
from baselines.model.resnet import ResNet, load_torchvision_weights


@dataclass
class GSTOutput:
    semantic: torch.Tensor
    field: torch.Tensor | None
    embedding: torch.Tensor | None


class GSTModel(nn.Module):
    """Dual-branch GOSS network with typed keyword arguments (see :func:`build_model`)."""

    def __init__(
        self,
        *,
        num_outputs: int,
        layers: Sequence[int] = (3, 4, 6, 3),
        width: int = 64,
        output_stride: int = 16,
        aspp_channels: int = 256,
        aspp_rates: Sequence[int] = (6, 12, 18),
        low_level_channels: int = 48,
        decoder_channels: int = 256,
        bpd: bool = True,
        bpd_width: int = 256,
        projection: bool = False,
        projection_dim: int = 256,
        bn_momentum: float = 0.1,
    ) -> None:
        super().__init__()
        self.backbone = ResNet(layers, width, output_stride)
        ch = self.backbone.channels
        self.semantic_head = DeepLabV3PlusHead(
            ch["res5"], ch["res2"], num_outputs, aspp_channels, aspp_rates,
            low_level_channels, decoder_channels,
        )
        self.bpd_head = BPDHead(ch, bpd_width) if bpd else None
        self.projection_head = ProjectionHead(ch["res5"], projection_dim) if projection else None
        for m in self.modules():
            if isinstance(m, nn.BatchNorm2d | nn.SyncBatchNorm):
                m.momentum = bn_momentum

    def forward(self, images: torch.Tensor) -> GSTOutput:
        size = (images.shape[2], images.shape[3])
        feats = self.backbone(images)
        sem = self.semantic_head(feats, size)
        field = self.bpd_head(feats, size) if self.bpd_head is not None else None
        emb = self.projection_head(feats["res5"]) if self.projection_head is not None else None
        return GSTOutput(semantic=sem, field=field, embedding=emb)


def num_outputs_for(model_type: str, num_known: int) -> int:
    """Classifier width: N for "n" (also the DML embedding size), N+1 for "n+1"."""
    return num_known + 1 if model_type == "n+1" else num_known


def build_model(cfg, num_known: int) -> GSTModel:  # noqa: ANN001 (baselines.config.ModelConfig)
    """Build the network from a :class:`baselines.config.ModelConfig`.

    Loads ``cfg.pretrained`` (torchvision-format ImageNet weights, a local file) into
    the encoder when set.
    """
    model = GSTModel(
        num_outputs=num_outputs_for(cfg.type, num_known),
        layers=cfg.layers,
        width=cfg.width,
        output_stride=cfg.output_stride,
        aspp_channels=cfg.aspp_channels,
        aspp_rates=cfg.aspp_rates,
        low_level_channels=cfg.low_level_channels,
        decoder_channels=cfg.decoder_channels,
        bpd=cfg.bpd,
        bpd_width=cfg.bpd_width,
        projection=cfg.projection,
        projection_dim=cfg.projection_dim,
        bn_momentum=cfg.bn_momentum,
    )
    if cfg.pretrained:
        load_torchvision_weights(model.backbone, cfg.pretrained)
    return model
