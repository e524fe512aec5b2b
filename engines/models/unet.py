"""U-Net (Ronneberger et al. 2015) with configurable depth and width, correct at any input size.

Odd sizes: each decoder step resizes the upsampled map to the skip connection's exact size
(bilinear, from the tensor's runtime shape), so nothing size-dependent (such as a pad computed at
trace time) is baked into an exported graph.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from engines.models.blocks import ConvBNAct, init_weights, upsample_to


class DoubleConv(nn.Sequential):
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(ConvBNAct(in_channels, out_channels, 3), ConvBNAct(out_channels, out_channels, 3))


class Up(nn.Module):
    def __init__(self, in_channels: int, skip_channels: int, out_channels: int) -> None:
        super().__init__()
        self.reduce = ConvBNAct(in_channels, skip_channels, 1)
        self.conv = DoubleConv(2 * skip_channels, out_channels)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = upsample_to(self.reduce(x), skip)
        return self.conv(torch.cat([skip, x], dim=1))


class UNet(nn.Module):
    """Returns N×K×H×W logits at the input's size. ``depth`` poolings, widths ``base·2^i``."""

    def __init__(self, *, num_classes: int, depth: int = 4, base_channels: int = 16, in_channels: int = 3) -> None:
        super().__init__()
        if depth < 1:
            raise ValueError(f"U-Net depth must be at least 1, not {depth}")
        widths = [base_channels * 2**i for i in range(depth + 1)]
        self.stem = DoubleConv(in_channels, widths[0])
        self.down = nn.ModuleList(DoubleConv(widths[i], widths[i + 1]) for i in range(depth))
        self.up = nn.ModuleList(Up(widths[i + 1], widths[i], widths[i]) for i in reversed(range(depth)))
        self.classifier = nn.Conv2d(widths[0], num_classes, 1)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = [self.stem(x)]
        for block in self.down:
            skips.append(block(F.max_pool2d(skips[-1], 2, ceil_mode=True)))
        x = skips.pop()
        for block in self.up:
            x = block(x, skips.pop())
        return self.classifier(x)
