"""MobileNetV3 Large and Small feature extractors with dilation for output stride 8, 16 or 32.

The ``features`` Sequential has the same children, order and parameter names as torchvision's
``mobilenet_v3_large(...).features`` / ``mobilenet_v3_small(...).features``, so the segmentation
models that embed it (``backbone.<i>...``) load torchvision checkpoints with ``strict=True``.
Dilation does not change any parameter shape; it only replaces strides, as torchvision does.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn

from engines.models.blocks import ConvBNAct, SqueezeExcitation, init_weights, make_divisible

BN_EPS, BN_MOMENTUM = 0.001, 0.01


def _norm(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


@dataclass(frozen=True)
class BlockConfig:
    in_channels: int
    kernel: int
    expanded: int
    out_channels: int
    use_se: bool
    hard_swish: bool
    stride: int
    dilation: int = 1


def _b(i: int, k: int, e: int, o: int, se: bool, act: str, s: int) -> BlockConfig:
    return BlockConfig(i, k, e, o, se, act == "HS", s)


# (in, kernel, expanded, out, SE, activation, stride) — the MobileNetV3 paper's tables.
LARGE = (
    _b(16, 3, 16, 16, False, "RE", 1),
    _b(16, 3, 64, 24, False, "RE", 2),  # C1
    _b(24, 3, 72, 24, False, "RE", 1),
    _b(24, 5, 72, 40, True, "RE", 2),  # C2
    _b(40, 5, 120, 40, True, "RE", 1),
    _b(40, 5, 120, 40, True, "RE", 1),
    _b(40, 3, 240, 80, False, "HS", 2),  # C3
    _b(80, 3, 200, 80, False, "HS", 1),
    _b(80, 3, 184, 80, False, "HS", 1),
    _b(80, 3, 184, 80, False, "HS", 1),
    _b(80, 3, 480, 112, True, "HS", 1),
    _b(112, 3, 672, 112, True, "HS", 1),
    _b(112, 5, 672, 160, True, "HS", 2),  # C4
    _b(160, 5, 960, 160, True, "HS", 1),
    _b(160, 5, 960, 160, True, "HS", 1),
)
SMALL = (
    _b(16, 3, 16, 16, True, "RE", 2),  # C1
    _b(16, 3, 72, 24, False, "RE", 2),  # C2
    _b(24, 3, 88, 24, False, "RE", 1),
    _b(24, 5, 96, 40, True, "HS", 2),  # C3
    _b(40, 5, 240, 40, True, "HS", 1),
    _b(40, 5, 240, 40, True, "HS", 1),
    _b(40, 5, 120, 48, True, "HS", 1),
    _b(48, 5, 144, 48, True, "HS", 1),
    _b(48, 5, 288, 96, True, "HS", 2),  # C4
    _b(96, 5, 576, 96, True, "HS", 1),
    _b(96, 5, 576, 96, True, "HS", 1),
)
VARIANTS = {"large": LARGE, "small": SMALL}


class InvertedResidual(nn.Module):
    """Expand (1×1) → depthwise (k×k, maybe dilated) → SE → project (1×1), children in ``block``."""

    def __init__(self, cfg: BlockConfig) -> None:
        super().__init__()
        act = nn.Hardswish if cfg.hard_swish else nn.ReLU
        stride = 1 if cfg.dilation > 1 else cfg.stride
        layers: list[nn.Module] = []
        if cfg.expanded != cfg.in_channels:
            layers.append(ConvBNAct(cfg.in_channels, cfg.expanded, 1, activation=act, norm=_norm))
        layers.append(
            ConvBNAct(cfg.expanded, cfg.expanded, cfg.kernel, stride=stride, dilation=cfg.dilation,
                      groups=cfg.expanded, activation=act, norm=_norm)
        )
        if cfg.use_se:
            layers.append(SqueezeExcitation(cfg.expanded, make_divisible(cfg.expanded // 4, 8)))
        layers.append(ConvBNAct(cfg.expanded, cfg.out_channels, 1, activation=None, norm=_norm))
        self.block = nn.Sequential(*layers)
        self.use_residual = cfg.stride == 1 and cfg.in_channels == cfg.out_channels
        self.is_strided = cfg.stride > 1  # marks a new stage (C1..C4) even when dilation removes the stride
        self.out_channels = cfg.out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        return out + x if self.use_residual else out


@dataclass(frozen=True)
class Features:
    """A MobileNetV3 feature extractor and where its stages end."""

    layers: nn.Sequential
    stage_indices: tuple[int, ...]  # C0 (stem), C1..C4 (strided blocks), C5 (last conv)
    channels: tuple[int, ...]  # output channels at each stage index


def mobilenet_v3_features(variant: str = "large", *, output_stride: int = 16, width_mult: float = 1.0) -> Features:
    """Build ``features`` of MobileNetV3-``variant`` with the given output stride (8, 16 or 32)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown MobileNetV3 variant {variant!r}; one of {', '.join(VARIANTS)}")
    if output_stride not in (8, 16, 32):
        raise ValueError(f"output_stride must be 8, 16 or 32, not {output_stride}")
    configs = list(VARIANTS[variant])
    strided = [i for i, c in enumerate(configs) if c.stride > 1]
    c3, c4 = strided[-2], strided[-1]
    # OS16 dilates the last stage (torchvision's segmentation setting); OS8 also the one before it.
    for i in range(len(configs)):
        if output_stride == 16 and i >= c4:
            configs[i] = replace(configs[i], dilation=2)
        elif output_stride == 8 and i >= c3:
            configs[i] = replace(configs[i], dilation=2 if i < c4 else 4)
    if width_mult != 1.0:
        configs = [
            replace(c, in_channels=make_divisible(c.in_channels * width_mult), expanded=make_divisible(c.expanded * width_mult),
                    out_channels=make_divisible(c.out_channels * width_mult))
            for c in configs
        ]
    stem = ConvBNAct(3, configs[0].in_channels, 3, stride=2, activation=nn.Hardswish, norm=_norm)
    blocks = [InvertedResidual(c) for c in configs]
    last_in = configs[-1].out_channels
    last = ConvBNAct(last_in, 6 * last_in, 1, activation=nn.Hardswish, norm=_norm)
    layers = nn.Sequential(stem, *blocks, last)
    init_weights(layers)
    indices = (0, *[i + 1 for i, b in enumerate(blocks) if b.is_strided], len(layers) - 1)
    channels = tuple(_out_channels(layers[i]) for i in indices)
    return Features(layers, indices, channels)


def _out_channels(module: nn.Module) -> int:
    return int(module.out_channels)  # type: ignore[arg-type]
