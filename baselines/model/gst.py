"""The GOSS baseline network: shared ResNet encoder, DeepLabV3+ classification
branch, a clustering branch (Super-BPD, or DFC for the paper's Table 6) and an
optional projection head (GST).  With ``separate_encoders`` (Table 5 "Separate")
the clustering branch has an encoder of its own: two networks in one module, whose
losses touch disjoint parameters, so training them together on the same batches
is training them separately.

``forward(images)`` takes float (B, 3, H, W) normalised images and returns a
:class:`GSTOutput` with

* ``semantic``: float (B, C, H, W); C = N (N-model), N+1 (N+1-model) or the N-dim
  DML embedding (``head="dml"``),
* ``field``: float (B, 2, H, W) direction field (``clustering="bpd"``) or None,
* ``response``: float (B, Q, H, W) DFC response map (``clustering="dfc"``) or None,
* ``embedding``: float (B, D, H/16, W/16) unit-norm projections or None.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from baselines.model.bpd_head import BPDHead
from baselines.model.deeplabv3plus import DeepLabV3PlusHead
from baselines.model.dfc_head import DFCHead
from baselines.model.projection import ProjectionHead
from baselines.model.resnet import ResNet, load_torchvision_weights


@dataclass
class GSTOutput:
    semantic: torch.Tensor
    field: torch.Tensor | None
    embedding: torch.Tensor | None
    response: torch.Tensor | None = None


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
        decoder_convs: int = 2,
        clustering: str = "bpd",
        separate_encoders: bool = False,
        bpd_width: int = 256,
        dfc_channels: int = 100,
        projection: bool = False,
        projection_dim: int = 256,
        bn_momentum: float = 0.1,
    ) -> None:
        super().__init__()
        if clustering not in ("bpd", "dfc", "none"):
            raise ValueError(f"clustering must be 'bpd', 'dfc' or 'none', got {clustering!r}")
        self.backbone = ResNet(layers, width, output_stride)
        ch = self.backbone.channels
        self.semantic_head = DeepLabV3PlusHead(
            ch["res5"], ch["res2"], num_outputs, aspp_channels, aspp_rates,
            low_level_channels, decoder_channels, decoder_convs,
        )
        self.cluster_backbone = (
            ResNet(layers, width, output_stride) if separate_encoders and clustering != "none"
            else None
        )
        self.bpd_head = BPDHead(ch, bpd_width) if clustering == "bpd" else None
        self.dfc_head = DFCHead(ch["res2"], bpd_width, dfc_channels) if clustering == "dfc" else None
        self.projection_head = ProjectionHead(ch["res5"], projection_dim) if projection else None
        for m in self.modules():
            if isinstance(m, nn.BatchNorm2d | nn.SyncBatchNorm):
                m.momentum = bn_momentum

    def forward(self, images: torch.Tensor) -> GSTOutput:
        size = (images.shape[2], images.shape[3])
        feats = self.backbone(images)
        sem = self.semantic_head(feats, size)
        cfeats = self.cluster_backbone(images) if self.cluster_backbone is not None else feats
        field = self.bpd_head(cfeats, size) if self.bpd_head is not None else None
        resp = self.dfc_head(cfeats, size) if self.dfc_head is not None else None
        emb = self.projection_head(feats["res5"]) if self.projection_head is not None else None
        return GSTOutput(semantic=sem, field=field, embedding=emb, response=resp)

    def encoders(self) -> list[ResNet]:
        """The ResNet encoder(s): one, or two with separate encoders."""
        return [self.backbone] + ([self.cluster_backbone] if self.cluster_backbone is not None else [])


def num_outputs_for(model_type: str, num_known: int) -> int:
    """Classifier width: N for "n" (also the DML embedding size), N+1 for "n+1"."""
    return num_known + 1 if model_type == "n+1" else num_known


def build_model(cfg, num_known: int) -> GSTModel:  # noqa: ANN001 (baselines.config.ModelConfig)
    """Build the network from a :class:`baselines.config.ModelConfig`.

    Loads ``cfg.pretrained`` (torchvision-format ImageNet weights: "imagenet" for the
    file in the weights folder, or a path) into the encoder(s) unless it is "none".

    Raises:
        GossInputError: the weights are missing (the message says how to fetch them)
            or do not fit the encoder (naming the first bad key and shape).
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
        decoder_convs=cfg.decoder_convs,
        clustering=cfg.clustering,
        separate_encoders=cfg.separate_encoders,
        bpd_width=cfg.bpd_width,
        dfc_channels=cfg.dfc_channels,
        projection=cfg.projection,
        projection_dim=cfg.projection_dim,
        bn_momentum=cfg.bn_momentum,
    )
    if cfg.pretrained != "none":
        from baselines.weights import resolve_pretrained

        path = resolve_pretrained(cfg.pretrained)
        for encoder in model.encoders():
            load_torchvision_weights(encoder, path)
    return model
