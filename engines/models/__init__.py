"""Segmentation models in plain PyTorch, by name.

Each registered builder is keyword-only and returns a module whose ``forward`` maps an N×3×H×W
normalised RGB float tensor to ONE N×K×H×W logits tensor at the input's size (no dict)::

    model = create_model("lraspp_mobilenet_v3_large", num_classes=19)

Every argument has a range (``engines.models.arguments``), checked before anything is allocated.
The MobileNetV3 models' state-dict keys match torchvision's, so official checkpoints load with
``strict=True`` (see docs/torchvision-weights.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from torch import nn

from engines.models.arguments import ModelArgumentError, check_arguments
from engines.models.deeplabv3 import build_deeplabv3
from engines.models.lraspp import build_lraspp
from engines.models.unet import UNet

__all__ = ["ModelArgumentError", "check_model", "create_model", "list_models", "register_model"]

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}


def register_model(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    _REGISTRY[fn.__name__] = fn
    return fn


def list_models() -> list[str]:
    return sorted(_REGISTRY)


def check_model(name: str, kwargs: Mapping[str, Any]) -> None:
    """``ModelArgumentError`` (a ``ModelError``) unless ``name`` is registered and every argument in
    ``kwargs`` is one it takes, inside its range (``engines.models.arguments``); builds nothing."""
    if name not in _REGISTRY:
        raise ModelArgumentError(name, None, f"is unknown; registered: {', '.join(list_models())}")
    check_arguments(name, kwargs)


def create_model(name: str, *, num_classes: int, **kwargs: Any) -> nn.Module:
    """The model ``name`` built with ``kwargs``, once ``check_model`` accepts them."""
    check_model(name, {"num_classes": num_classes, **kwargs})
    return _REGISTRY[name](num_classes=num_classes, **kwargs)


@register_model
def lraspp_mobilenet_v3_large(*, num_classes: int, output_stride: int = 16, inter_channels: int = 128,
                              low_level_stride: int = 8) -> nn.Module:
    return build_lraspp(variant="large", num_classes=num_classes, output_stride=output_stride,
                        inter_channels=inter_channels, low_level_stride=low_level_stride)


@register_model
def lraspp_mobilenet_v3_small(*, num_classes: int, output_stride: int = 16, inter_channels: int = 128,
                              low_level_stride: int = 8) -> nn.Module:
    return build_lraspp(variant="small", num_classes=num_classes, output_stride=output_stride,
                        inter_channels=inter_channels, low_level_stride=low_level_stride)


@register_model
def deeplabv3_mobilenet_v3_large(*, num_classes: int, output_stride: int = 16, aux_loss: bool = False,
                                 atrous_rates: Sequence[int] = (12, 24, 36)) -> nn.Module:
    return build_deeplabv3(variant="large", num_classes=num_classes, output_stride=output_stride,
                           aux_loss=aux_loss, atrous_rates=atrous_rates)


@register_model
def deeplabv3_mobilenet_v3_small(*, num_classes: int, output_stride: int = 16, aux_loss: bool = False,
                                 atrous_rates: Sequence[int] = (12, 24, 36)) -> nn.Module:
    return build_deeplabv3(variant="small", num_classes=num_classes, output_stride=output_stride,
                           aux_loss=aux_loss, atrous_rates=atrous_rates)


@register_model
def unet(*, num_classes: int, depth: int = 4, base_channels: int = 16) -> nn.Module:
    return UNet(num_classes=num_classes, depth=depth, base_channels=base_channels)
