"""Backends by name and by file suffix; each backend module is imported only when used.

Adding a backend is one line in ``BACKENDS`` (and one in ``SUFFIXES`` if it owns a file type).
Every backend class is constructed as ``Class(path, meta, *, device=..., threads=..., **options)``.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from engines.engine import Engine
from engines.errors import EngineUnavailableError, ModelError
from engines.metadata import ModelMeta, load_for_model

BACKENDS: dict[str, str] = {
    "onnxruntime": "engines.backends.onnxruntime:OnnxRuntimeEngine",
    "torch": "engines.backends.torch:TorchEngine",
    "tensorrt": "engines.backends.tensorrt:TensorRTEngine",
}

SUFFIXES: dict[str, str] = {
    ".onnx": "onnxruntime",
    ".pt": "torch",
    ".pth": "torch",
    ".engine": "tensorrt",
    ".plan": "tensorrt",
}

INSTALL_HINTS: dict[str, str] = {
    "onnxruntime": "pip install onnxruntime",
    "torch": "pip install 'segstream[train]' (CPU machines: pip install torch==2.13.0)",
    "tensorrt": "pip install 'segstream[gpu]' on a machine with an NVIDIA GPU and driver",
}


def backend_for(path: str | Path, backend: str = "auto") -> str:
    """The backend name for ``path``: the explicit choice, or the one that owns its suffix."""
    if backend != "auto":
        if backend not in BACKENDS:
            raise ModelError(f"unknown backend {backend!r}; choose one of: auto, {', '.join(BACKENDS)}")
        return backend
    suffix = Path(path).suffix.lower()
    try:
        return SUFFIXES[suffix]
    except KeyError:
        raise ModelError(
            f"cannot tell the backend of {path}: suffix {suffix or '(none)'} is not one of "
            f"{', '.join(SUFFIXES)}; rename the file or set model.backend"
        ) from None


def resolve_device(backend: str, device: str) -> str:
    """``device`` as given, or for ``auto`` the GPU when the backend can use one here, else the CPU.

    ONNX Runtime: ``cuda`` when its TensorRT or CUDA execution provider is installed (onnxruntime-gpu);
    PyTorch: ``cuda`` when torch sees a GPU; TensorRT: always ``cuda``.
    """
    if device != "auto":
        return device
    if backend == "tensorrt":
        return "cuda"
    if backend == "onnxruntime":
        try:
            import onnxruntime
        except ImportError:
            return "cpu"
        gpu = {"TensorrtExecutionProvider", "CUDAExecutionProvider"} & set(onnxruntime.get_available_providers())
        return "cuda" if gpu else "cpu"
    if backend == "torch":
        try:
            import torch
        except ImportError:
            return "cpu"
        return "cuda" if torch.cuda.is_available() else "cpu"
    return "cpu"


def backend_class(name: str) -> type:
    module_name, _, class_name = BACKENDS[name].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise EngineUnavailableError(
            f"backend {name!r} cannot be loaded ({exc}); install it with: {INSTALL_HINTS[name]}"
        ) from None
    cls: type = getattr(module, class_name)
    return cls


def check_model_file(path: Path) -> None:
    """Raise ModelError unless ``path`` is an existing file, saying where models come from."""
    if not path.exists():
        raise ModelError(
            f"model file {path} does not exist; check model.path or --model (models are made by "
            "`python -m training.train --config configs/train/NAME.yaml` or `python -m engines.models.export`)"
        )
    if not path.is_file():
        raise ModelError(f"model path {path} is not a file")


def open_engine(
    path: str | Path,
    *,
    backend: str = "auto",
    device: str = "auto",
    threads: int | None = None,
    meta: ModelMeta | None = None,
    **options: Any,
) -> Engine:
    """Open ``path`` with the right backend, reading its sidecar unless ``meta`` is given.

    ``device`` ``auto`` picks the GPU when the backend can use one on this machine (see
    ``resolve_device``), else the CPU."""
    path = Path(path)
    check_model_file(path)
    name = backend_for(path, backend)
    if meta is None:
        meta = load_for_model(path)
    cls = backend_class(name)
    engine: Engine = cls(path, meta, device=resolve_device(name, device), threads=threads, **options)
    return engine
