"""DeepLabV3+ pixel-classification branch (Chen et al., ECCV 2018).

ASPP on the encoder's last feature map (output stride 16: rates 6/12/18), a
low-level projection of ``res2`` to 48 channels, the ASPP output bilinearly
upsampled to stride 4 and concatenated with it, then ``decoder_convs`` 3x3 convs of
``decoder_channels`` (Chen et al.: two 3x3 convs of 256 channels) and a 1x1
classifier; logits are bilinearly upsampled to the input size.

Differences from the GOSS authors' release (Panoptic-DeepLab semantic decoder on a
stride-32 encoder with ASPP rates 3/6/9, three top-down stages projecting to
128/64/32 channels and 5x5 depthwise-separable fusion convs) are listed in
``baselines/README.md``.  The image-pooling ASPP branch has no BatchNorm (as in
the release) so that training works with one image per device.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def conv_bn_relu(cin: int, cout: int, k: int, dilation: int = 1) -> nn.Sequential:
    pad = dilation * (k // 2)
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, padding=pad, dilation=dilation, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling: 1x1, three atrous 3x3 and an image-pool branch."""

    def __init__(
        self, cin: int, cout: int = 256, rates: Sequence[int] = (6, 12, 18), dropout: float = 0.1
    ) -> None:
        super().__init__()
        self.branches = nn.ModuleList(
            [conv_bn_relu(cin, cout, 1)] + [conv_bn_relu(cin, cout, 3, r) for r in rates]
        )
        self.pool = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Conv2d(cin, cout, 1), nn.ReLU(inplace=True)
        )
        self.project = nn.Sequential(
            conv_bn_relu(cout * (len(rates) + 2), cout, 1), nn.Dropout(dropout)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = [b(x) for b in self.branches]
        pooled = self.pool(x)
        outs.append(pooled.expand(-1, -1, x.shape[2], x.shape[3]))
        return self.project(torch.cat(outs, dim=1))


class DeepLabV3PlusHead(nn.Module):
    """DeepLabV3+ decoder and classifier.

    Args:
        high_channels: channels of the ASPP input (``res5``).
        low_channels: channels of the low-level input (``res2``).
        num_outputs: N (N-model), N+1 (N+1-model) or the DML embedding size.
        aspp_channels, aspp_rates, low_level_channels (48), decoder_channels: widths.
        decoder_convs: number of 3x3 conv-BN-ReLU layers after the concat (2).

    ``forward(features, size)`` returns float (B, num_outputs, H, W) at ``size``.
    """

    def __init__(
        self,
        high_channels: int,
        low_channels: int,
        num_outputs: int,
        aspp_channels: int = 256,
        aspp_rates: Sequence[int] = (6, 12, 18),
        low_level_channels: int = 48,
        decoder_channels: int = 256,
        decoder_convs: int = 2,
    ) -> None:
        super().__init__()
        self.aspp = ASPP(high_channels, aspp_channels, aspp_rates)
        self.low_proj = conv_bn_relu(low_channels, low_level_channels, 1)
        cins = [aspp_channels + low_level_channels] + [decoder_channels] * (decoder_convs - 1)
        self.decoder = nn.Sequential(*[conv_bn_relu(c, decoder_channels, 3) for c in cins])
        self.classifier = nn.Conv2d(decoder_channels, num_outputs, 1)

    def forward(self, features: dict[str, torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
        low = self.low_proj(features["res2"])
        high = self.aspp(features["res5"])
        high = F.interpolate(high, size=low.shape[2:], mode="bilinear", align_corners=False)
        x = self.decoder(torch.cat([high, low], dim=1))
        x = self.classifier(x)
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)
