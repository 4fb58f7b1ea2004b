"""Differentiable feature clustering head (Kim, Kanezaki and Tanaka, IEEE TIP 2020).

The clustering branch of the paper's Table 6 "DFC" rows: trained without labels
(:func:`baselines.losses.dfc_loss`), its response map's argmax over ``channels``
clusters is the group map.  Structure after the DFC paper, on the encoder's
stride-4 features: 3x3 conv-BN-ReLU of ``width`` channels, then a 1x1 conv to
``channels`` and a BatchNorm (the paper's normalisation of the response before
the argmax), bilinearly upsampled to the input: float (B, channels, H, W).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class DFCHead(nn.Module):
    def __init__(self, cin: int, width: int = 256, channels: int = 100) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(cin, width, 3, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, channels, 1),
            nn.BatchNorm2d(channels),
        )

    def forward(self, features: dict[str, torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
        return F.interpolate(self.net(features["res2"]), size=size, mode="bilinear",
                             align_corners=False)
