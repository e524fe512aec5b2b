"""Loading checkpoints safely (``weights_only=True``): segstream's own, and plain state dicts.

A segstream checkpoint is a dict with ``model`` (state dict) and ``architecture``
(``{"name", "kwargs"}``), plus optional ``class_names``, ``palette``, ``train_config``,
``best_miou``, ``input_size``. A plain state dict — torchvision's official
``deeplabv3_mobilenet_v3_large-*.pth`` or ``lraspp_mobilenet_v3_large-*.pth`` — needs the
architecture named; the class count is read from the classifier's weights and the auxiliary head
is kept when the file has one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from engines.errors import ModelError
from engines.models import create_model, list_models
from engines.registry import check_model_file
from segcore.labels import CITYSCAPES, VOC, generic_palette

_CLASSIFIER_KEYS = ("classifier.4.weight", "classifier.low_classifier.weight", "classifier.weight")


@dataclass
class LoadedCheckpoint:
    model: nn.Module
    architecture: dict[str, Any]
    class_names: tuple[str, ...]
    palette: tuple[tuple[int, int, int], ...]
    provenance: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    input_size: tuple[int, int] | None = None


def read_checkpoint(path: str | Path) -> Mapping[str, Any]:
    path = Path(path)
    check_model_file(path, "checkpoint", hint="check the path (a training run writes last.pt and best.pt into its output.dir)")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle errors, zip errors, refused globals
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"cannot load checkpoint {path} safely (weights_only=True): {first}") from None
    if not isinstance(data, Mapping):
        raise ModelError(f"checkpoint {path} holds a {type(data).__name__}, not a state dict or checkpoint dict")
    return data


def load_checkpoint(path: str | Path, *, arch: str | None = None, num_classes: int | None = None) -> LoadedCheckpoint:
    data = read_checkpoint(path)
    if "model" in data and "architecture" in data:
        architecture = dict(data["architecture"])
        state = data["model"]
    else:
        if arch is None:
            raise ModelError(
                f"{path} is a plain state dict; name its architecture with --arch (one of {', '.join(list_models())})"
            )
        state = data
        kwargs: dict[str, Any] = {"num_classes": num_classes or _classes_in(state, path)}
        if arch.startswith("deeplabv3") and any(k.startswith("aux_classifier.") for k in state):
            kwargs["aux_loss"] = True
        architecture = {"name": arch, "kwargs": kwargs}
    name, kwargs = architecture["name"], dict(architecture.get("kwargs", {}))
    try:
        model = create_model(name, **kwargs)
    except (TypeError, ValueError) as exc:
        raise ModelError(f"{path}: cannot build architecture {name!r} with {kwargs}: {exc}") from None
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        raise ModelError(f"{path}: weights do not fit {name}: {' '.join(lines[1:3]) or lines[0]}") from None
    classes = int(kwargs["num_classes"])
    names = tuple(data.get("class_names") or default_names(classes))
    palette = tuple(tuple(int(v) for v in c) for c in (data.get("palette") or default_palette(classes)))
    metrics = {k: data[k] for k in ("best_miou", "val_miou") if k in data and data[k] is not None}
    provenance: dict[str, Any] = {}
    if "train_config" in data:
        provenance["train_config"] = data["train_config"]
    if "step" in data:
        provenance["train_steps"] = data["step"]
    size = data.get("input_size")
    return LoadedCheckpoint(model, architecture, names, palette, provenance, metrics,  # type: ignore[arg-type]
                            tuple(size) if size else None)  # type: ignore[arg-type]


def _classes_in(state: Mapping[str, Any], path: str | Path) -> int:
    for key in _CLASSIFIER_KEYS:
        if key in state:
            return int(state[key].shape[0])
    raise ModelError(f"{path}: cannot tell the class count (no classifier weights found); pass --num-classes")


def default_names(num_classes: int) -> tuple[str, ...]:
    for label_set in (CITYSCAPES, VOC):
        if label_set.num_classes == num_classes:
            return label_set.class_names
    return tuple(f"class_{i}" for i in range(num_classes))


def default_palette(num_classes: int) -> tuple[tuple[int, int, int], ...]:
    for label_set in (CITYSCAPES, VOC):
        if label_set.num_classes == num_classes:
            return label_set.palette
    return generic_palette(num_classes)
