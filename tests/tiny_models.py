"""Tiny real ONNX models (hand-built graphs, no torch) with sidecars, for fast pipeline tests.

They are genuine ONNX Runtime sessions: a 1×1 convolution from colour to class scores, optionally
with uint8 BGR NHWC input normalised in the graph and an in-graph ArgMax → uint8 class map, the
same I/O contracts the exported networks have.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from engines.metadata import InputSpec, ModelMeta, OutputSpec
from segcore.labels import CITYSCAPES


def make_tiny_model(
    directory: Path,
    *,
    name: str = "tiny",
    num_classes: int = 19,
    height: int = 64,
    width: int = 128,
    uint8_input: bool = True,
    argmax: bool = True,
    dynamic_batch: bool = True,
    seed: int = 0,
) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    batch: int | str = "N" if dynamic_batch else 1
    nodes = []
    initializers = [
        numpy_helper.from_array(rng.standard_normal((num_classes, 3, 1, 1)).astype(np.float32), "w"),
        numpy_helper.from_array(rng.standard_normal(num_classes).astype(np.float32) * 0.1, "b"),
    ]
    if uint8_input:
        inp = helper.make_tensor_value_info("input", TensorProto.UINT8, [batch, height, width, 3])
        initializers.append(numpy_helper.from_array(np.full((1, 3, 1, 1), 1 / 255.0, np.float32), "scale"))
        nodes += [
            helper.make_node("Cast", ["input"], ["as_float"], to=TensorProto.FLOAT),
            helper.make_node("Transpose", ["as_float"], ["nchw"], perm=[0, 3, 1, 2]),
            helper.make_node("Mul", ["nchw", "scale"], ["conv_in"]),
        ]
    else:
        inp = helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, 3, height, width])
        nodes.append(helper.make_node("Identity", ["input"], ["conv_in"]))
    nodes.append(helper.make_node("Conv", ["conv_in", "w", "b"], ["logits"]))
    if argmax:
        nodes += [
            helper.make_node("ArgMax", ["logits"], ["argmax"], axis=1, keepdims=0),
            helper.make_node("Cast", ["argmax"], ["classmap"], to=TensorProto.UINT8),
        ]
        out = helper.make_tensor_value_info("classmap", TensorProto.UINT8, [batch, height, width])
    else:
        out = helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, num_classes, height, width])
    graph = helper.make_graph(nodes, name, [inp], [out], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = directory / f"{name}.onnx"
    onnx.save(model, str(path))
    names = CITYSCAPES.class_names[:num_classes] + tuple(f"class{i}" for i in range(19, num_classes))
    palette = CITYSCAPES.palette[:num_classes] + tuple((i, i, i) for i in range(19, num_classes))
    meta = ModelMeta(
        name=name,
        class_names=names,
        palette=palette,
        input=InputSpec(
            name="input",
            layout="NHWC" if uint8_input else "NCHW",
            dtype="uint8" if uint8_input else "float32",
            color="BGR" if uint8_input else "RGB",
            height=height,
            width=width,
            dynamic_batch=dynamic_batch,
            normalized_in_graph=uint8_input,
        ),
        output=OutputSpec(
            name="classmap" if argmax else "logits",
            kind="classmap" if argmax else "logits",
            dtype="uint8" if argmax else "float32",
        ),
        opset=17,
        provenance={"made_by": "tests/tiny_models.py", "seed": seed},
    )
    meta.save(path.with_suffix(".yaml"))
    return path
