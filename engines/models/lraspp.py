"""LR-ASPP (Searching for MobileNetV3, Howard et al. 2019) on a MobileNetV3 backbone.

Parameter names follow torchvision's ``lraspp_mobilenet_v3_large``: ``backbone.<i>.*`` and
``classifier.{cbr,scale,low_classifier,high_classifier}.*``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from engines.models.blocks import upsample_to
from engines.models.mobilenetv3 import mobilenet_v3_features


class LRASPPHead(nn.Module):
    def __init__(self, low_channels: int, high_channels: int, num_classes: int, inter_channels: int = 128) -> None:
        super().__init__()
        self.cbr = nn.Sequential(
            nn.Conv2d(high_channels, inter_channels, 1, bias=False),
            nn.BatchNorm2d(inter_channels),
            nn.ReLU(inplace=True),
        )
        self.scale = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(high_channels, inter_channels, 1, bias=False),
            nn.Sigmoid(),
        )
        self.low_classifier = nn.Conv2d(low_channels, num_classes, 1)
        self.high_classifier = nn.Conv2d(inter_channels, num_classes, 1)

    def forward(self, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
        x = self.cbr(high) * self.scale(high)
        x = upsample_to(x, low)
        return self.low_classifier(low) + self.high_classifier(x)


class LRASPP(nn.Module):
    """Returns N×K×H×W logits at the input's size."""

    def __init__(self, backbone: nn.Sequential, low_index: int, low_channels: int, high_channels: int,
                 num_classes: int, inter_channels: int = 128) -> None:
        super().__init__()
        self.backbone = backbone
        self.low_index = low_index
        self.classifier = LRASPPHead(low_channels, high_channels, num_classes, inter_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        low = x
        for i, layer in enumerate(self.backbone):
            x = layer(x)
            if i == self.low_index:
                low = x
        out = self.classifier(low, x)
        return F.interpolate(out, size=size, mode="bilinear", align_corners=False)


def build_lraspp(*, variant: str, num_classes: int, output_stride: int = 16, inter_channels: int = 128,
                 width_mult: float = 1.0) -> LRASPP:
    features = mobilenet_v3_features(variant, output_stride=output_stride, width_mult=width_mult)
    low_index = features.stage_indices[-4]  # C2, output stride 8
    low_channels = features.channels[-4]
    high_channels = features.channels[-1]
    return LRASPP(features.layers, low_index, low_channels, high_channels, num_classes, inter_channels)
