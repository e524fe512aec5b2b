"""Backends by name and by file suffix; each backend module is imported only when used.

Adding a backend is one entry in ``BACKENDS``: where its class is, the model files it owns, the
options it takes (``model.options`` in a config; name → type, checked here without importing the
backend's library), how to install it. Every backend class is constructed as
``Class(path, meta, *, device=..., threads=..., **options)``.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from engines.devices import parse_device
from engines.engine import Engine
from engines.errors import EngineUnavailableError, ModelError
from engines.metadata import ModelMeta, Precision, load_for_model
from engines.triton.address import is_model_uri
from segcore.errors import ConfigError
from segcore.typed_values import check_value, limits

OPTIONS_KEY = "model.options"
OrtOptimization = Literal["all", "extended", "basic", "none"]  # ONNX Runtime's graph optimisation levels


@dataclass(frozen=True)
class Backend:
    target: str  # "module:Class", imported on first use
    suffixes: tuple[str, ...]  # the model files it opens when model.backend is auto
    install: str  # how to get it, for the message when it is missing
    options: Mapping[str, Any] = field(default_factory=dict)  # option name → type, as a config may set them
    option_limits: Mapping[str, Mapping[str, object]] = field(default_factory=dict)  # option name → limits(...)
    code_options: tuple[str, ...] = ()  # keyword arguments only code can pass (objects: a module, a fake runtime)


BACKENDS: dict[str, Backend] = {
    "onnxruntime": Backend(
        "engines.backends.onnxruntime:OnnxRuntimeEngine", (".onnx",), "pip install onnxruntime",
        options={"providers": list[str] | None, "optimization": OrtOptimization, "spinning": bool},
    ),
    "torch": Backend(
        "engines.backends.torch:TorchEngine", (".pt", ".pth"),
        "pip install 'segstream[train]' (CPU machines: pip install torch==2.13.0)",
        options={"half": bool | None, "channels_last": bool | None, "cuda_graph": bool | None, "compile": bool,
                 "max_batch": int},
        option_limits={"max_batch": limits(low=1, high=1024)},  # frames per call; CUDA graphs are captured per size
        code_options=("model",),
    ),
    "tensorrt": Backend(
        "engines.backends.tensorrt:TensorRTEngine", (".engine", ".plan"),
        "pip install 'segstream[gpu]' on a machine with an NVIDIA GPU and driver",
        options={"cuda_graph": bool, "precision": Precision | None, "rebuild": bool},
        code_options=("build_options", "tensorrt_module", "cuda_runtime"),
    ),
    "triton": Backend(  # a served model: --model triton://HOST:PORT/MODEL[/VERSION], no file suffix
        "engines.backends.triton:TritonEngine", (), "pip install 'segstream[triton]'",
        options={"timeout_s": float, "retry_for_s": float, "sidecar": str | None, "shared_memory": bool},
        option_limits={"timeout_s": limits(low=0.1, high=3600), "retry_for_s": limits(low=0, high=86400)},
        code_options=("health",),  # an engines.triton.health.ServerHealth shared by a run's workers
    ),
}

SUFFIXES: dict[str, str] = {suffix: name for name, entry in BACKENDS.items() for suffix in entry.suffixes}


def backend_for(path: str | Path, backend: str = "auto") -> str:
    """The backend name for ``path``: the explicit choice, or the one that owns its suffix (or its
    ``triton://`` scheme)."""
    if is_model_uri(path):
        if backend not in ("auto", "triton"):
            raise ConfigError(f"{path} is a model served by Triton: model.backend must be auto or triton, not {backend!r}")
        return "triton"
    if backend != "auto":
        if backend not in BACKENDS:
            raise ConfigError(f"unknown backend {backend!r}; choose one of: auto, {', '.join(BACKENDS)}")
        return backend
    suffix = Path(path).suffix.lower()
    try:
        return SUFFIXES[suffix]
    except KeyError:
        raise ModelError(
            f"cannot tell the backend of {path}: suffix {suffix or '(none)'} is not one of "
            f"{', '.join(SUFFIXES)}; rename the file or set model.backend"
        ) from None


def check_options(
    backend: str, options: Mapping[str, Any], *, where: Callable[[str], str] | None = None, code: bool = True
) -> dict[str, Any]:
    """``options`` checked against what ``backend`` takes (an integer given for a float becomes one).

    An unknown option is a ``ConfigError`` naming the nearest valid one ("unknown key
    'model.options.spining'; did you mean 'spinning'?"), a wrong type one naming the expected type.
    ``code``: also accept the keyword arguments only code can pass; ``where(key)`` names the
    origin of a value in messages (a config file, a --set).
    """
    entry = BACKENDS[backend]
    checked: dict[str, Any] = {}
    for name, value in options.items():
        key = f"{OPTIONS_KEY}.{name}"
        if code and name in entry.code_options:
            checked[name] = value
        elif name in entry.options:
            checked[name] = check_value(value, entry.options[name], key, where, entry.option_limits.get(name))
        else:
            at = f"{where(key)}: " if where is not None else ""
            close = difflib.get_close_matches(str(name), list(entry.options), n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'?" if close else f"the {backend} backend takes: {', '.join(entry.options)}"
            raise ConfigError(f"{at}unknown key '{key}'; {hint}")
    return checked


def resolve_device(backend: str, device: str) -> str:
    """``device`` as given (once checked), or for ``auto`` the GPU when the backend can use one
    here, else the CPU. ``ConfigError`` for a name that is not auto, cpu, cuda or cuda:N.

    ONNX Runtime: ``cuda`` when its TensorRT or CUDA execution provider is installed (onnxruntime-gpu);
    PyTorch: ``cuda`` when torch sees a GPU; TensorRT: always ``cuda``.
    """
    if parse_device(device).kind != "auto":
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
    module_name, _, class_name = BACKENDS[name].target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise EngineUnavailableError(
            f"backend {name!r} cannot be loaded ({exc}); install it with: {BACKENDS[name].install}"
        ) from None
    cls: type = getattr(module, class_name)
    return cls


MODEL_SOURCES = ("models are made by `python -m training.train --config configs/train/NAME.yaml` or "
                 "`python -m engines.models.export`")
MISSING_MODEL_HINT = f"check model.path or --model ({MODEL_SOURCES})"


def check_model_file(path: str | Path, what: str = "model file", *, hint: str = MISSING_MODEL_HINT) -> None:
    """Raise ``ModelError`` unless ``path`` is a file this process can read. A path that does not
    exist, a folder (naming the model files in it) and an unreadable file are each said as such;
    ``what`` names the file ("checkpoint", "ONNX model"), ``hint`` says what to do when it is missing."""
    path = Path(path)
    if path.is_dir():
        raise ModelError(f"{what} {path} is a folder, not a file: give the file itself{_models_in(path)}")
    if not path.exists():
        kind = "is a broken symbolic link" if path.is_symlink() else "does not exist"
        raise ModelError(f"{what} {path} {kind}; {hint}")
    if not path.is_file():
        raise ModelError(f"{what} {path} is not a regular file (a device or a pipe); give a model file")
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise ModelError(f"cannot read the {what} {path}: {exc.strerror or exc}") from None


def _models_in(folder: Path, shown: int = 5) -> str:
    """``; it holds a.onnx, b.pt`` for the model files directly in ``folder`` (nothing if none)."""
    try:
        names = sorted(p.name for p in folder.iterdir() if p.suffix.lower() in SUFFIXES and p.is_file())
    except OSError:
        return ""
    if not names:
        return ""
    return f"; it holds {', '.join(names[:shown])}{', ...' if len(names) > shown else ''}"


def open_engine(
    path: str | Path,
    *,
    backend: str = "auto",
    device: str = "auto",
    threads: int | None = None,
    meta: ModelMeta | None = None,
    **options: Any,
) -> Engine:
    """Open ``path`` with the right backend, reading its sidecar unless ``meta`` is given (an
    ONNX model with no sidecar is described from its graph: ``engines.describe``). ``path`` may
    be a ``str`` ``triton://HOST:PORT/MODEL[/VERSION]``: a model served by Triton (sidecar from the server).

    ``device`` ``auto`` picks the GPU when the backend can use one on this machine (see
    ``resolve_device``), else the CPU. ``options`` are the backend's (see ``check_options``)."""
    if is_model_uri(path):  # a served model: the engine reads its sidecar from the server
        name = backend_for(path, backend)
        remote: Engine = backend_class(name)(path, meta, device=device, threads=threads, **check_options(name, options))
        return remote
    path = Path(path)
    check_model_file(path)
    name = backend_for(path, backend)
    options = check_options(name, options)
    if meta is None:
        from engines.describe import describe_model

        meta = describe_model(path) if name == "onnxruntime" else load_for_model(path)
    cls = backend_class(name)
    engine: Engine = cls(path, meta, device=resolve_device(name, device), threads=threads, **options)
    return engine


def model_meta(path: str | Path, options: Mapping[str, Any] | None = None) -> ModelMeta:
    """The sidecar of ``path``: beside a model file, or from the server of a ``triton://`` address
    (``options``: the triton backend's ``timeout_s`` and ``sidecar``)."""
    if not is_model_uri(path):
        return load_for_model(path)
    from engines.triton.address import fetch_meta

    options = check_options("triton", dict(options or {}), code=False)
    return fetch_meta(str(path), timeout_s=options.get("timeout_s", 10.0), sidecar=options.get("sidecar"))
