"""What the builder reads from an ONNX file: its one image input, and a hash of the file and its weights.

Neither loads the weights. ``onnx`` is used when installed; without it the input comes from an ONNX
Runtime session and external weights are guessed by name (``model.onnx.data``).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from engines.errors import ModelError
from segcore.files import sha256_file, sha256_text


@dataclass(frozen=True)
class OnnxInput:
    name: str
    dims: tuple[int | None, ...]  # None where the dimension is dynamic
    elem_type: str  # "float32", "float16", "uint8", ...


def read_onnx_input(path: Path) -> OnnxInput:
    """The single graph input's name, shape and element type, without loading weights."""
    onnx = _onnx()
    if onnx is None:
        return _onnx_input_via_ort(path)
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf raises DecodeError and friends
        raise ModelError(f"{path} is not a readable ONNX file: {exc}") from None
    initializers = {init.name for init in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    if len(inputs) != 1:
        raise ModelError(f"{path}: expected one graph input, found {len(inputs)}")
    tensor = inputs[0].type.tensor_type
    dims = tuple(
        d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in tensor.shape.dim
    )
    elem = onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type).name
    return OnnxInput(inputs[0].name, dims, elem)


def _onnx_input_via_ort(path: Path) -> OnnxInput:
    import onnxruntime as ort

    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ModelError(f"{path} is not a readable ONNX file: {exc}") from None
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise ModelError(f"{path}: expected one graph input, found {len(inputs)}")
    types = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(uint8)": "uint8"}
    dims = tuple(d if isinstance(d, int) and d > 0 else None for d in inputs[0].shape)
    return OnnxInput(inputs[0].name, dims, types.get(inputs[0].type, inputs[0].type))


def onnx_sha256(path: Path) -> str:
    """sha256 over the ONNX file and any external-data files it names (weights live there too)."""
    parts = [path, *_external_data_files(path)]
    return sha256_text("".join(f"{p.name}:{sha256_file(p)}\n" for p in parts))


def _external_data_files(path: Path) -> list[Path]:
    onnx = _onnx()
    if onnx is None:
        guess = path.with_name(path.name + ".data")
        return [guess] if guess.is_file() else []
    model = onnx.load(str(path), load_external_data=False)
    names: set[str] = set()
    for init in model.graph.initializer:
        if init.data_location == onnx.TensorProto.EXTERNAL:
            names.update(e.value for e in init.external_data if e.key == "location")
    return [path.parent / n for n in sorted(names)]


def _onnx() -> ModuleType | None:
    """The ``onnx`` package, or None where only ONNX Runtime is installed."""
    try:
        return importlib.import_module("onnx")
    except ImportError:
        return None
