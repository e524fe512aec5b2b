"""What an ONNX file says about itself: its inputs and outputs, and how each output is made.

``read_graph(path)`` reads the graph (not its weights) with the ``onnx`` package, imported only
here and only when called. For every input and output it gives the name, the shape (an ``int``
per fixed axis, ``None`` per dynamic one) and the NumPy dtype name. For every output it also
says what the graph ends in, looking back through the operators that only move values
(``Identity``, ``Cast``, ``Reshape``, ``Transpose``, ``Resize``, ...): ``Softmax``, ``Sigmoid``,
``ArgMax`` or something else, and for an ``ArgMax`` how many classes it chose between (the size
of the axis it reduced, when shape inference knows it). Deciding what those facts mean (layout,
kind, classes) is ``engines.conventions``' job.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engines.errors import EngineUnavailableError, ModelError

# operators that move or resample values without changing which class wins
PASS_THROUGH = frozenset({
    "Identity", "Cast", "CastLike", "Reshape", "Squeeze", "Unsqueeze", "Transpose", "Resize", "Upsample",
    "Flatten", "Slice", "Pad",
})
ENDINGS = ("Softmax", "LogSoftmax", "Sigmoid", "ArgMax")


@dataclass(frozen=True)
class TensorInfo:
    """One graph input or output: name, shape (None for a dynamic axis), NumPy dtype name."""

    name: str
    shape: tuple[int | None, ...]
    dtype: str

    def describe(self) -> str:
        dims = "×".join("?" if d is None else str(d) for d in self.shape)
        return f"{self.name} {dims} {self.dtype}"


@dataclass(frozen=True)
class OutputOrigin:
    """What the graph ends in before an output: ``Softmax``, ``Sigmoid``, ``ArgMax`` or ``""``."""

    ending: str = ""
    argmax_classes: int | None = None  # the size of the axis an ArgMax reduced, when known


@dataclass(frozen=True)
class GraphInfo:
    path: Path
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    origins: Mapping[str, OutputOrigin] = field(default_factory=dict)

    def output(self, name: str) -> TensorInfo | None:
        return next((o for o in self.outputs if o.name == name), None)

    def origin(self, name: str) -> OutputOrigin:
        return self.origins.get(name, OutputOrigin())


def read_graph(path: str | Path) -> GraphInfo:
    """Read ``path``'s inputs, outputs and how each output is made; ModelError if it is not ONNX."""
    try:
        import onnx
    except ImportError:
        raise EngineUnavailableError(
            "reading an ONNX model without a sidecar needs the Python package 'onnx'; pip install onnx"
        ) from None
    path = Path(path)
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - protobuf raises its own DecodeError and friends
        text = " ".join(str(exc).split()) or type(exc).__name__
        raise ModelError(f"{path} is not a readable ONNX model: {text}") from None
    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False)
    except Exception:  # noqa: BLE001 - shape inference is a help, not a requirement
        inferred = model
    graph = inferred.graph
    initializers = {init.name for init in graph.initializer}
    inputs = tuple(_tensor(v, onnx) for v in graph.input if v.name not in initializers)
    shapes: dict[str, tuple[int | None, ...]] = {}
    for value in [*graph.value_info, *graph.input, *graph.output]:
        shape = _tensor(value, onnx).shape
        if shape or value.name not in shapes:  # a declaration without a shape keeps the inferred one
            shapes[value.name] = shape
    outputs = tuple(_tensor(v, onnx) for v in graph.output)
    # an output declared without a shape: the one shape inference found for it, if any
    outputs = tuple(TensorInfo(o.name, shapes.get(o.name) or o.shape, o.dtype) if not o.shape else o for o in outputs)
    producers = {name: node for node in graph.node for name in node.output}
    origins = {out.name: _origin(out.name, producers, shapes) for out in outputs}
    return GraphInfo(path, inputs, outputs, origins)


def _tensor(value: Any, onnx: Any) -> TensorInfo:
    kind = value.type.tensor_type
    shape: tuple[int | None, ...] = ()
    if kind.HasField("shape"):
        shape = tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in kind.shape.dim)
    try:
        dtype = onnx.helper.tensor_dtype_to_np_dtype(kind.elem_type).name
    except Exception:  # noqa: BLE001 - an undefined or exotic element type
        dtype = f"onnx type {kind.elem_type}"
    return TensorInfo(value.name, shape, dtype)


def _origin(name: str, producers: Mapping[str, Any], shapes: Mapping[str, tuple[int | None, ...]]) -> OutputOrigin:
    seen = 0
    node = producers.get(name)
    while node is not None and seen < 64:
        seen += 1
        if node.op_type in ENDINGS:
            classes = _argmax_classes(node, shapes) if node.op_type == "ArgMax" else None
            return OutputOrigin(node.op_type, classes)
        if node.op_type not in PASS_THROUGH or not node.input:
            return OutputOrigin()
        node = producers.get(node.input[0])
    return OutputOrigin()


def _argmax_classes(node: Any, shapes: Mapping[str, tuple[int | None, ...]]) -> int | None:
    shape = shapes.get(node.input[0])
    if not shape:
        return None
    axis = next((a.i for a in node.attribute if a.name == "axis"), 0)
    axis = axis + len(shape) if axis < 0 else axis
    return shape[axis] if 0 <= axis < len(shape) else None
