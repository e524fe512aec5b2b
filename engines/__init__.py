"""segstream engines: a model file in, a runnable ``Engine`` out.

The public API is what ``__all__`` lists: open a model (``open_engine``), read its sidecar
(``load_for_model`` → ``ModelMeta`` with ``InputSpec`` / ``OutputSpec``), and move frames in and
class maps out with the geometry everyone shares (``fit``, ``to_input``, ``to_class_maps``,
``restore_class_map``). Backends (``engines.backends``), models with export and parity
(``engines.models``, needs torch) and the TensorRT builder (``engines.build``) are imported only
when used: importing ``engines`` imports neither torch, ONNX Runtime nor TensorRT.
"""

from engines.engine import Engine
from engines.errors import (
    BuildLockTimeout,
    CudaError,
    EngineError,
    EngineUnavailableError,
    ModelError,
    ParityError,
)
from engines.metadata import InputSpec, ModelMeta, OutputSpec, load_for_model, sidecar_path
from engines.registry import backend_for, open_engine, resolve_device
from engines.transforms import Geometry, fit, restore_class_map, to_class_maps, to_input
from engines.weights import default_model_path

__all__ = [
    "BuildLockTimeout",
    "CudaError",
    "Engine",
    "EngineError",
    "EngineUnavailableError",
    "Geometry",
    "InputSpec",
    "ModelError",
    "ModelMeta",
    "OutputSpec",
    "ParityError",
    "backend_for",
    "default_model_path",
    "fit",
    "load_for_model",
    "open_engine",
    "resolve_device",
    "restore_class_map",
    "sidecar_path",
    "to_class_maps",
    "to_input",
]
