"""A segstream ONNX file's trained weights back in the PyTorch network it was exported from.

The bundled models ship as ONNX only; the CUDA PyTorch engine needs a ``.pt`` checkpoint. The
exporter keeps the parameter names (``net.backbone.3.block.0.0.weight``) and folds every batch
norm into the convolution before it: the folded kernel under the conv's own name, the folded
bias as ``<conv>.weight_bias``. So each ``Conv → BatchNorm`` pair gets the folded kernel, and the
batch norm becomes the identity plus that bias (weight 1, mean 0, variance ``1 − eps``).

    net = network_from_onnx("engines/weights/lraspp_mbv3_street.onnx", meta)   # an nn.Module
    write_checkpoint(net, meta, "lraspp.pt")     # + lraspp.yaml: opens with backend torch

Every parameter and buffer of the network must be found (``ModelError`` naming the first that is
not), so a renamed layer is refused rather than left at its random initial value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from engines.errors import ModelError
from engines.metadata import ModelMeta
from engines.models import create_model

_PREFIX = "net."  # DeployModel's name for the network it wraps


def _initializers(path: Path) -> dict[str, np.ndarray]:
    import onnx
    from onnx import numpy_helper

    try:
        model = onnx.load(str(path))
    except Exception as exc:  # protobuf decode errors, missing external data
        raise ModelError(f"cannot read ONNX file {path}: {exc}") from None
    return {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}


def network_from_onnx(path: str | Path, meta: ModelMeta) -> nn.Module:
    """The architecture the sidecar names, with the ONNX file's weights (eval mode, on the CPU)."""
    path = Path(path)
    arch = meta.architecture or {}
    name = arch.get("name")
    if not name:
        raise ModelError(f"{path}: the sidecar names no architecture; only segstream exports can be loaded back")
    kwargs = dict(arch.get("kwargs", {}))
    kwargs.setdefault("num_classes", meta.num_classes)
    net = create_model(str(name), **kwargs).eval()
    weights = _initializers(path)
    modules = dict(net.named_modules())
    state: dict[str, torch.Tensor] = {}
    for key, value in net.state_dict().items():
        if key.endswith("num_batches_tracked"):
            state[key] = value
            continue
        found = weights.get(_PREFIX + key)
        if found is None:
            found = _folded_norm(key, weights, modules)
        if found is None:
            raise ModelError(f"{path}: no weights for {key} (exported from another version of {name}?)")
        if tuple(found.shape) != tuple(value.shape):
            raise ModelError(f"{path}: {key} has shape {tuple(found.shape)}, {name} needs {tuple(value.shape)}")
        state[key] = torch.from_numpy(np.array(found, dtype=np.float32))
    net.load_state_dict(state, strict=True)
    return net


def _folded_norm(key: str, weights: dict[str, np.ndarray], modules: dict[str, nn.Module]) -> np.ndarray | None:
    """The identity batch norm that stands for one folded into the conv before it, or None."""
    owner, _, field = key.rpartition(".")
    head, _, index = owner.rpartition(".")
    norm = modules.get(owner)
    if not isinstance(norm, nn.BatchNorm2d) or not index.isdigit():
        return None
    bias = weights.get(f"{_PREFIX}{head}.{int(index) - 1}.weight_bias")
    if bias is None:
        return None
    channels = bias.shape[0]
    values: dict[str, Any] = {
        "weight": np.ones(channels),
        "bias": bias,
        "running_mean": np.zeros(channels),
        "running_var": np.full(channels, 1.0 - norm.eps),
    }
    return np.asarray(values[field], dtype=np.float32) if field in values else None


def write_checkpoint(net: nn.Module, meta: ModelMeta, path: str | Path) -> Path:
    """``net`` as a segstream checkpoint at ``path`` with ``meta`` as its sidecar (same I/O specs)."""
    path = Path(path)
    torch.save({"model": net.state_dict(), "architecture": dict(meta.architecture or {}),
                "class_names": list(meta.class_names), "palette": [list(c) for c in meta.palette]}, path)
    meta.save(path.with_suffix(".yaml"))
    return path
