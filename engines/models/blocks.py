"""Building blocks shared by the models. Module layouts follow torchvision's so state-dict keys match."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round channels to a multiple of ``divisor`` without dropping more than 10 % (MobileNet rule)."""
    min_value = min_value or divisor
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def init_weights(module: nn.Module) -> None:
    """torchvision's MobileNetV3 initialisation: He-normal (fan-out) convolutions, unit norms, zero biases.

    PyTorch's default (He-uniform with gain 1/3) lets activations shrink layer by layer in eval mode:
    a randomly initialised DeepLabv3 then returns the same logits at every pixel, which starves a
    from-scratch training run's first steps and makes an export parity check on random weights vacuous.
    """
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d | nn.GroupNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.01)
            nn.init.zeros_(m.bias)


@torch.no_grad()
def calibrate_norm_statistics(module: nn.Module, height: int, width: int, *, batches: int = 2, seed: int = 0) -> None:
    """Give a randomly initialised network the BatchNorm statistics of its own activations.

    Fresh statistics (mean 0, variance 1) leave MobileNetV3's depthwise layers shrinking the signal in
    eval mode until the logits are the same at every pixel; a parity check of such a graph compares
    constants. After a few train-mode passes on random frames the logits vary over the image, so an
    export of random weights exercises the whole graph. Trainable parameters are not touched.
    """
    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    was_training, momenta = module.training, [m.momentum for m in norms]
    generator = torch.Generator().manual_seed(seed)
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average over the calibration batches
    module.train()
    for _ in range(batches):
        module(torch.randn(2, 3, height, width, generator=generator))
    for m, momentum in zip(norms, momenta, strict=True):
        m.momentum = momentum
    module.train(was_training)


class ConvBNAct(nn.Sequential):
    """Conv2d → BatchNorm2d → activation, as children ``0``, ``1``, ``2`` (torchvision's layout)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        *,
        stride: int = 1,
        dilation: int = 1,
        groups: int = 1,
        activation: Callable[..., nn.Module] | None = nn.ReLU,
        norm: Callable[[int], nn.Module] = nn.BatchNorm2d,
    ) -> None:
        padding = (kernel_size - 1) // 2 * dilation
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, dilation=dilation, groups=groups, bias=False),
            norm(out_channels),
        ]
        if activation is not None:
            layers.append(activation(inplace=True))
        super().__init__(*layers)
        self.out_channels = out_channels


class SqueezeExcitation(nn.Module):
    """Channel attention: global pool → fc1 → ReLU → fc2 → hard-sigmoid scale (keys fc1, fc2)."""

    def __init__(self, channels: int, squeeze_channels: int) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(channels, squeeze_channels, 1)
        self.fc2 = nn.Conv2d(squeeze_channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = F.adaptive_avg_pool2d(x, 1)
        scale = F.hardsigmoid(self.fc2(F.relu(self.fc1(scale))))
        return x * scale


def upsample_to(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Bilinear resize of ``x`` to the spatial size of ``like`` (half-pixel centres)."""
    return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)
