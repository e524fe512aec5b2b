"""TensorRT feature detection: one place that knows how TensorRT 10 and 11 differ.

Features are detected (``hasattr``), never read off version strings: Jetson (JetPack 6) and DRIVE
OS stay on TensorRT 10 while data-centre GPUs move to 11, and point releases add or drop API.

What differs and how it is handled:

=================================  ================================  =============================
feature                            TensorRT 10                       TensorRT 11
=================================  ================================  =============================
precision builder flags            ``BuilderFlag.FP16``/``INT8``     removed: strongly typed only
``STRONGLY_TYPED`` network flag    optional                          accepted (always strongly typed)
INT8 calibrators                   implicit (deprecated)             removed: Q/DQ (ModelOpt)
engine device memory size          ``device_memory_size_v2``         ``device_memory_size_v2`` only
=================================  ================================  =============================

Kept in both: ``execute_async_v3``, ``set_tensor_address``, ``set_input_shape``, optimisation
profiles, timing cache, ``builder_optimization_level``, ``hardware_compatibility_level``.

Only this module imports ``tensorrt``; it does so when asked, never at import time.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from engines.errors import EngineUnavailableError

if TYPE_CHECKING:
    import tensorrt as trt

INSTALL_HINT = (
    "install TensorRT on a machine with an NVIDIA GPU and driver (pip install 'segstream[gpu]', "
    "or JetPack's python3-libnvinfer on Jetson), or use backend onnxruntime"
)

# TensorRT DataType member name -> numpy dtype name (None: no numpy equivalent for I/O here).
_DTYPES: dict[str, str | None] = {
    "FLOAT": "float32",
    "HALF": "float16",
    "INT8": "int8",
    "INT32": "int32",
    "INT64": "int64",
    "BOOL": "bool",
    "UINT8": "uint8",
    "BF16": None,
    "FP8": None,
    "INT4": None,
    "FP4": None,
    "E8M0": None,
}


def import_tensorrt() -> ModuleType:
    """The real ``tensorrt`` module, or EngineUnavailableError saying what to install.

    ``tensorrt-stubs`` installs a ``tensorrt`` directory holding only ``.pyi`` files, which Python
    imports as an empty namespace package; that is treated as "not installed".
    """
    try:
        trt = importlib.import_module("tensorrt")
    except ImportError as exc:
        raise EngineUnavailableError(f"TensorRT is not installed ({exc}); {INSTALL_HINT}") from None
    except OSError as exc:  # a wheel whose shared libraries cannot be loaded
        raise EngineUnavailableError(f"TensorRT cannot be loaded ({exc}); {INSTALL_HINT}") from None
    if not hasattr(trt, "Builder") or not hasattr(trt, "Runtime"):
        raise EngineUnavailableError(
            f"TensorRT is not installed (only type stubs were found); {INSTALL_HINT}"
        )
    return trt


def version(trt: Any) -> str:
    return str(getattr(trt, "__version__", "unknown"))


def has_weak_typing(trt: Any) -> bool:
    """True where precision builder flags exist (TensorRT 10); False where they were removed (11)."""
    return hasattr(trt, "BuilderFlag") and hasattr(trt.BuilderFlag, "FP16")


def network_flags(trt: Any, *, strongly_typed: bool) -> int:
    """``create_network`` flags: explicit batch is implicit since TensorRT 10."""
    if not strongly_typed:
        return 0
    flag = getattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
    if flag is None:
        raise EngineUnavailableError(
            f"TensorRT {version(trt)} has no strongly typed networks; upgrade to TensorRT 10 or newer"
        )
    return 1 << int(flag)


def numpy_dtype(trt_dtype: Any) -> np.dtype[Any]:
    """The numpy dtype of a TensorRT I/O tensor; ValueError for types numpy cannot hold."""
    name = getattr(trt_dtype, "name", str(trt_dtype)).rsplit(".", 1)[-1]
    numpy_name = _DTYPES.get(name)
    if numpy_name is None:
        raise ValueError(
            f"TensorRT I/O type {name} has no numpy equivalent; "
            "export the model with float32/float16/uint8 I/O"
        )
    return np.dtype(numpy_name)


def device_memory_size(engine: Any) -> int:
    """Scratch memory an engine needs (``_v2`` where present: the only one left in TensorRT 11)."""
    for attr in ("device_memory_size_v2", "device_memory_size"):
        if hasattr(engine, attr):
            return int(getattr(engine, attr))
    return 0


def shape(dims: trt.Dims | Sequence[int]) -> tuple[int, ...]:
    """A TensorRT ``Dims`` (indexable, sized) as a tuple of ints; -1 marks a dynamic dimension."""
    return tuple(int(dims[i]) for i in range(len(dims)))
