"""DeepLabv3 (Chen et al. 2017): ASPP with atrous rates plus image pooling, on MobileNetV3.

Parameter names follow torchvision's ``deeplabv3_mobilenet_v3_large``: ``backbone.<i>.*``,
``classifier.0.convs.*`` (ASPP), ``classifier.0.project.*``, ``classifier.{1,2,4}.*`` and, with
``aux_loss=True``, ``aux_classifier.{0,1,4}.*`` (torchvision's official weights include it).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from engines.models.mobilenetv3 import mobilenet_v3_features


class ASPPConv(nn.Sequential):
    def __init__(self, in_channels: int, out_channels: int, dilation: int) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, padding=dilation, dilation=dilation, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


class ASPPPooling(nn.Sequential):
    """Image-level features: global average → 1×1 conv → broadcast back to the map's size."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(in_channels, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = super().forward(x)
        # Bilinear upsampling of a 1×1 map is a broadcast; expand says so and exports as one op.
        return pooled.expand(-1, -1, x.shape[-2], x.shape[-1])


class ASPP(nn.Module):
    def __init__(self, in_channels: int, atrous_rates: Sequence[int], out_channels: int = 256) -> None:
        super().__init__()
        branches: list[nn.Module] = [
            nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))
        ]
        branches += [ASPPConv(in_channels, out_channels, rate) for rate in atrous_rates]
        branches.append(ASPPPooling(in_channels, out_channels))
        self.convs = nn.ModuleList(branches)
        self.project = nn.Sequential(
            nn.Conv2d(len(branches) * out_channels, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Dropout(0.5),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(torch.cat([branch(x) for branch in self.convs], dim=1))


class DeepLabHead(nn.Sequential):
    def __init__(self, in_channels: int, num_classes: int, atrous_rates: Sequence[int] = (12, 24, 36)) -> None:
        super().__init__(
            ASPP(in_channels, atrous_rates),
            nn.Conv2d(256, 256, 3, padding=1, bias=False),
            nn.BatchNorm2d(256),
            nn.ReLU(inplace=True),
            nn.Conv2d(256, num_classes, 1),
        )


class FCNHead(nn.Sequential):
    """The auxiliary head torchvision trains with (and ships in its checkpoints)."""

    def __init__(self, in_channels: int, num_classes: int) -> None:
        inter = in_channels // 4
        super().__init__(
            nn.Conv2d(in_channels, inter, 3, padding=1, bias=False),
            nn.BatchNorm2d(inter),
            nn.ReLU(inplace=True),
            nn.Dropout(0.1),
            nn.Conv2d(inter, num_classes, 1),
        )


class DeepLabV3(nn.Module):
    """Returns N×K×H×W logits at the input's size; ``forward_with_aux`` also returns the aux logits."""

    def __init__(self, backbone: nn.Sequential, classifier: nn.Module, aux_classifier: nn.Module | None,
                 aux_index: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.classifier = classifier
        self.aux_classifier = aux_classifier
        self.aux_index = aux_index

    def forward_with_aux(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        size = x.shape[-2:]
        aux_features = None
        for i, layer in enumerate(self.backbone):
            x = layer(x)
            if i == self.aux_index:
                aux_features = x
        out = F.interpolate(self.classifier(x), size=size, mode="bilinear", align_corners=False)
        aux = None
        if self.aux_classifier is not None and aux_features is not None:
            aux = F.interpolate(self.aux_classifier(aux_features), size=size, mode="bilinear", align_corners=False)
        return out, aux

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        x = self.backbone(x)
        return F.interpolate(self.classifier(x), size=size, mode="bilinear", align_corners=False)


def build_deeplabv3(*, variant: str, num_classes: int, output_stride: int = 16, aux_loss: bool = False,
                    atrous_rates: Sequence[int] = (12, 24, 36), width_mult: float = 1.0) -> DeepLabV3:
    features = mobilenet_v3_features(variant, output_stride=output_stride, width_mult=width_mult)
    aux_index = features.stage_indices[-4]  # C2, output stride 8
    aux = FCNHead(features.channels[-4], num_classes) if aux_loss else None
    head = DeepLabHead(features.channels[-1], num_classes, tuple(atrous_rates))
    return DeepLabV3(features.layers, head, aux, aux_index)
