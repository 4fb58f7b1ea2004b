"""Super-BPD head: predicts a 2-channel direction field from ResNet features.

The structure follows the GOSS authors' port of the Super-BPD VGG head to ResNet
features (no BatchNorm): four dilated 3x3 convs (rates 2, 4, 8, 16) on ``res4``,
concatenated and reduced to ``width`` channels; 1x1 projections of ``res4``,
``res3`` and ``res2``; all four upsampled to stride 4, concatenated and passed
through a 1x1 MLP (4*width -> 2*width -> 2*width -> 2).  The field is bilinearly
upsampled to the input: float (B, 2, H, W), channel 0 = row, 1 = column.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _conv_relu(cin: int, cout: int, k: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, padding=dilation * (k // 2), dilation=dilation),
        nn.ReLU(inplace=True),
    )


class BPDHead(nn.Module):
    """Direction-field head.

    Args:
        channels: feature channels {"res2": .., "res3": .., "res4": ..}.
        width: 256 in the release (dilated branches use width, width, width, width/2).
    """

    def __init__(self, channels: dict[str, int], width: int = 256) -> None:
        super().__init__()
        c4 = channels["res4"]
        half = max(1, width // 2)
        self.dilated = nn.ModuleList(
            [_conv_relu(c4, width, 3, d) for d in (2, 4, 8)] + [_conv_relu(c4, half, 3, 16)]
        )
        self.reduce = _conv_relu(3 * width + half, width)
        self.proj4 = _conv_relu(c4, width)
        self.proj3 = _conv_relu(channels["res3"], width)
        self.proj2 = _conv_relu(channels["res2"], width)
        self.mlp = nn.Sequential(
            _conv_relu(4 * width, 2 * width),
            _conv_relu(2 * width, 2 * width),
            nn.Conv2d(2 * width, 2, 1),
        )

    def forward(self, features: dict[str, torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
        res4 = features["res4"]
        target = features["res2"].shape[2:]

        def up(x: torch.Tensor) -> torch.Tensor:
            return F.interpolate(x, size=target, mode="bilinear", align_corners=False)

        ctx = self.reduce(torch.cat([m(res4) for m in self.dilated], dim=1))
        x = torch.cat(
            [up(ctx), up(self.proj4(res4)), up(self.proj3(features["res3"])), self.proj2(features["res2"])],
            dim=1,
        )
        return F.interpolate(self.mlp(x), size=size, mode="bilinear", align_corners=False)
