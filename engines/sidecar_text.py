"""A complete sidecar as commented YAML, for a person to read and edit (``segstream inspect --write-sidecar``).

``sidecar_text(meta, model_name)`` writes every key ``engines.metadata`` reads, each with a comment
saying what it means and whether the graph states it (then the sidecar must agree with it) or it
was assumed. Read back (``engines.describe``), it gives the same ``ModelMeta``.
"""

from __future__ import annotations

from typing import Any

import yaml

from engines.metadata import FORMAT, ModelMeta


def _flow(value: Any) -> str:
    """``value`` as one line of YAML (a scalar is dumped inside a list, whose brackets are then dropped)."""
    text = yaml.safe_dump([value], default_flow_style=True, width=1 << 20, allow_unicode=True).strip()
    return text[1:-1]


def sidecar_text(meta: ModelMeta, model_name: str) -> str:
    inp, out = meta.input, meta.output
    graph = "read from the graph: the sidecar must agree"
    size = ("any size: the size frames are resized to" if inp.dynamic_size
            else f"fixed in the graph ({graph})")
    lines = [
        f"# segstream model sidecar for {model_name} (written by `segstream inspect --write-sidecar`).",
        "# Every key is described in docs/model-format.md. Edit what the graph cannot say: the class",
        "# names and colours, the colour order, mean/std and their units.",
        f"format: {FORMAT}",
        f"name: {_flow(meta.name)}",
        f"# {meta.num_classes} names, in the order of the model's class axis (class id 0 first)",
        f"class_names: {_flow(list(meta.class_names))}",
        "# one [R, G, B] colour (0..255) per class, in the same order",
        "palette:",
        *(f"- {_flow(list(colour))}" for colour in meta.palette),
        "input:",
        f"  name: {_flow(inp.name)}  # the graph's input ({graph})",
        f"  layout: {inp.layout}  # NCHW | NHWC ({graph})",
        f"  dtype: {inp.dtype}  # float32 | float16 | uint8 ({graph})",
        f"  color: {inp.color}  # the channel order the model takes: RGB | BGR",
        f"  height: {inp.height}  # {size}",
        f"  width: {inp.width}",
        f"  dynamic_batch: {_flow(inp.dynamic_batch)}  # several frames per call ({graph})",
        f"  dynamic_size: {_flow(inp.dynamic_size)}  # other sizes accepted, preprocess.size ({graph})",
        f"  normalized_in_graph: {_flow(inp.normalized_in_graph)}  # true: the graph normalises its input itself "
        "(a uint8 input always does; a float one then takes pixels in scale units)",
        f"  scale: {inp.scale}  # the units of mean and std: 1 = 0..1 (torchvision), 255 = 0..255 (mmsegmentation)",
        f"  mean: {_flow([float(v) for v in inp.mean])}  # R, G, B, in scale units (unused when normalized_in_graph)",
        f"  std: {_flow([float(v) for v in inp.std])}",
        "output:",
        f"  name: {_flow(out.name)}  # the graph output to read",
        f"  kind: {out.kind}  # logits | probabilities (argmax'd by segstream; one channel: binary) | classmap (ids)",
        f"  dtype: {out.dtype}  # ({graph})",
        f"  layout: {out.layout}  # where the class axis of scores is: NCHW (N×K×h×w) | NHWC (N×h×w×K)",
    ]
    return "\n".join(lines) + "\n"
