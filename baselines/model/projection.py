"""Projection head for the pixel contrastive loss ("convmlp" of ContrastiveSeg).

1x1 conv C->C, BN, ReLU, 1x1 conv -> ``dim`` (256), L2-normalised over channels.
Output: float (B, dim, h, w) at the input feature's resolution, unit norm per pixel.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ProjectionHead(nn.Module):
    def __init__(self, cin: int, dim: int = 256) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(cin, cin, 1, bias=False),
            nn.BatchNorm2d(cin),
            nn.ReLU(inplace=True),
            nn.Conv2d(cin, dim, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.net(x).float(), p=2, dim=1)
