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
                 width_mult: float = 1.0, low_level_stride: int = 8) -> LRASPP:
    """``low_level_stride`` 8 takes the low-level branch from C2, as the paper and torchvision do;
    4 takes it from C1, which places thin structures (poles, people) on a grid twice as fine for
    about the same compute (the classifier runs on a small map; the final upsampling is unchanged)."""
    if low_level_stride not in (4, 8):
        raise ValueError(f"low_level_stride must be 4 or 8, not {low_level_stride}")
    features = mobilenet_v3_features(variant, output_stride=output_stride, width_mult=width_mult)
    stage = -4 if low_level_stride == 8 else -5  # C2 (stride 8) or C1 (stride 4)
    low_index = features.stage_indices[stage]
    low_channels = features.channels[stage]
    high_channels = features.channels[-1]
    return LRASPP(features.layers, low_index, low_channels, high_channels, num_classes, inter_channels)
