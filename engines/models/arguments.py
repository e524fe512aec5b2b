"""What each model builder accepts, with its range, checked before anything is allocated.

A typo in a model's keyword arguments costs a machine, not an error: a U-Net of ``depth: 99``
or an LR-ASPP head a million channels wide allocates until memory runs out. ``check_arguments``
refuses such with one ``ModelArgumentError`` that names the argument, the value and the range.
``create_model`` calls it before building; the trainer calls it when its config is loaded, before
any data is rendered, to name the config key (``model.kwargs.depth``) and where it was set.

The ranges hold every legitimate model with room to spare:

* ``num_classes`` 1..1024: the largest label sets in use (ADE20K-full, 847 classes) fit.
* U-Net ``depth`` 1..8 poolings (a 256-pixel side is 1 pixel after 8), ``base_channels`` 1..512,
  and the widest layer, ``base_channels × 2^depth``, at most 2048 channels: 116 M parameters,
  four times the original U-Net's widest layer (64 × 2^4); 4096 would be 464 M.
* LR-ASPP ``inter_channels`` 1..1024 (torchvision: 128); DeepLabv3 up to 8 ``atrous_rates`` of
  1..256 each (torchvision: 12, 24, 36).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any, Literal

from engines.errors import ModelError
from segcore.errors import ConfigError
from segcore.typed_values import check_value, limits

__all__ = ["ARGUMENTS", "ModelArgumentError", "check_arguments"]

Spec = tuple[Any, Mapping[str, object]]  # (type hint, segcore.typed_values field metadata)

_NO_LIMITS: Mapping[str, object] = {}
NUM_CLASSES: Spec = (int, limits(low=1, high=1024))
MAX_UNET_WIDTH = 2048
MAX_ATROUS_RATES = 8
_OUTPUT_STRIDE: Spec = (Literal[8, 16, 32], _NO_LIMITS)
_LRASPP: dict[str, Spec] = {
    "output_stride": _OUTPUT_STRIDE,
    "inter_channels": (int, limits(low=1, high=1024)),
    "low_level_stride": (Literal[4, 8], _NO_LIMITS),
}
_DEEPLABV3: dict[str, Spec] = {
    "output_stride": _OUTPUT_STRIDE,
    "aux_loss": (bool, _NO_LIMITS),
    "atrous_rates": (list[int], limits(low=1, high=256)),
}
ARGUMENTS: dict[str, dict[str, Spec]] = {
    "lraspp_mobilenet_v3_large": _LRASPP,
    "lraspp_mobilenet_v3_small": _LRASPP,
    "deeplabv3_mobilenet_v3_large": _DEEPLABV3,
    "deeplabv3_mobilenet_v3_small": _DEEPLABV3,
    "unet": {"depth": (int, limits(low=1, high=8)), "base_channels": (int, limits(low=1, high=512))},
}
"""Builder name → keyword argument (besides ``num_classes``) → (type, range or choices)."""


class ModelArgumentError(ModelError):
    """A model builder's argument that is unknown or outside its range.

    ``model`` is the builder; ``argument`` the argument (None: the model name itself) and ``item``
    the value the problem is about ("atrous_rates[1]", else the argument); ``problem`` the rest of
    the sentence ("is 99; it must be >= 1 and <= 8").
    """

    def __init__(self, model: str, argument: str | None, problem: str, item: str | None = None) -> None:
        self.model = model
        self.argument = argument
        self.item = item or argument
        self.problem = problem
        super().__init__(f"model {model!r} {problem}" if argument is None else f"{model}: {self.item} {problem}")


def check_arguments(name: str, kwargs: Mapping[str, Any]) -> None:
    """``ModelArgumentError`` unless every ``kwargs`` item is an argument of the registered builder
    ``name`` inside its range (``num_classes`` included when given). A builder registered by other
    code, with no entry in ``ARGUMENTS``, has only its ``num_classes`` checked."""
    specs = {"num_classes": NUM_CLASSES, **ARGUMENTS.get(name, {})}
    for argument, value in kwargs.items():
        if argument not in specs:
            if name not in ARGUMENTS:
                continue  # the builder's own signature decides
            close = difflib.get_close_matches(str(argument), list(specs), n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'?" if close else f"it takes {', '.join(specs)}"
            raise ModelArgumentError(name, str(argument), f"is not an argument of {name}; {hint}")
        hint, metadata = specs[argument]
        try:
            check_value(value, hint, argument, metadata=metadata)
        except ConfigError as exc:  # "depth is 99; ..." or "atrous_rates[1] is 0; ...": the item, then the problem
            item, _, problem = str(exc).partition(" ")
            raise ModelArgumentError(name, argument, problem, item) from None
    _check_together(name, kwargs)


def _check_together(name: str, kwargs: Mapping[str, Any]) -> None:
    """The ranges that span two arguments, or that a type and a range cannot say."""
    if name == "unet":
        depth, base = kwargs.get("depth", 4), kwargs.get("base_channels", 16)
        if base * 2**depth > MAX_UNET_WIDTH:
            raise ModelArgumentError(
                name, "depth", f"is {depth} with base_channels {base}: the widest layer would have "
                f"{base * 2**depth} channels; base_channels × 2^depth must be <= {MAX_UNET_WIDTH}: "
                "lower depth or base_channels",
            )
    rates = kwargs.get("atrous_rates")
    if rates is not None and not 1 <= len(rates) <= MAX_ATROUS_RATES:
        raise ModelArgumentError(name, "atrous_rates", f"has {len(rates)} rates; give 1 to {MAX_ATROUS_RATES}")
