"""A model's ``ModelMeta`` from three places: the graph, its sidecar (if any), and the user's settings.

``describe_model(path, settings)`` reads an ONNX graph (``engines.graph``) and takes from it
everything it states: the input's name, layout, dtype and size, the output to read and what it
holds, the class count. The sidecar and the settings (``model.*`` keys, ``--labels``) add what no
graph says: class names, colours, mean/std and their units, colour order, whether the graph
normalises. When both say something they must agree: a sidecar or setting that contradicts the
graph (class count, input size, dtype, layout, output kind) is refused with one line naming the
key and the fix, before any frame is read. What nobody said is taken from torchvision's
convention and written in ``ModelMeta.notice`` (one line), which the command prints.

Other model files (``.pt``, ``.engine``) have no graph to read here: their sidecar is required,
with the settings applied over it.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from engines.conventions import (
    DEFAULT_SIDE,
    default_names,
    default_palette,
    input_layout,
    output_convention,
    pick_output,
)
from engines.errors import ModelError
from engines.graph import GraphInfo, read_graph
from engines.metadata import IMAGENET_MEAN, IMAGENET_STD, ModelMeta, load_for_model, sidecar_path
from segcore.strict_yaml import load_yaml, yaml_error

INPUT_DTYPES = ("float32", "float16", "uint8")
HOW_TO_CHANGE = "change it with a sidecar (segstream inspect MODEL --write-sidecar writes one) or the model.* settings"


@dataclass(frozen=True)
class ModelSettings:
    """What the user says about a model beside (and over) its sidecar: ``model.*`` config keys.

    ``labels``: a text file, one class name per line; ``colors``: one ``R G B`` per line;
    ``mean``/``std`` in the units of ``scale`` (1: 0..1, 255: 0..255).
    """

    output: str | None = None
    labels: str | None = None
    colors: str | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    scale: int | None = None
    color: str | None = None
    normalized_in_graph: bool | None = None


def describe_model(path: str | Path, settings: ModelSettings | None = None) -> ModelMeta:
    """The ``ModelMeta`` to run ``path`` with (see the module docstring); ModelError when the
    graph, sidecar and settings disagree or leave something that matters unknowable."""
    path = Path(path)
    settings = settings or ModelSettings()
    found = sidecar_path(path)
    if path.suffix.lower() != ".onnx":
        if found is None or settings == ModelSettings():
            return load_for_model(path)
        data = _apply(_read_sidecar(found), settings)
        return ModelMeta.from_dict(data, where=str(found))
    data = _apply(_read_sidecar(found) if found else {}, settings)
    where = str(found) if found else f"model {path.name}"
    return _Resolver(read_graph(path), data, where, found is not None).meta()


def _read_sidecar(path: Path) -> dict[str, Any]:
    try:
        data = load_yaml(path.read_text())
    except OSError as exc:
        raise ModelError(f"cannot read model sidecar {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ModelError(yaml_error(exc, f"model sidecar {path}")) from None
    if not isinstance(data, Mapping):
        raise ModelError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return copy.deepcopy(dict(data))


def _apply(data: dict[str, Any], settings: ModelSettings) -> dict[str, Any]:
    """``data`` (a sidecar mapping) with the user's settings laid over it."""
    if not isinstance(data.get("input") or {}, Mapping) or not isinstance(data.get("output") or {}, Mapping):
        return data  # a malformed section: left for the sidecar's own checks to name
    inp: dict[str, Any] = dict(data.get("input") or {})
    out: dict[str, Any] = dict(data.get("output") or {})
    for key, value in (("mean", settings.mean), ("std", settings.std), ("scale", settings.scale),
                       ("color", settings.color), ("normalized_in_graph", settings.normalized_in_graph)):
        if value is not None:
            inp[key] = list(value) if isinstance(value, tuple) else value
    if settings.output:
        out["name"] = settings.output
    if settings.labels:
        data["class_names"] = read_labels(settings.labels)
        data.pop("num_classes", None)
    if settings.colors:
        data["palette"] = read_colors(settings.colors)
    if inp:
        data["input"] = inp
    if out:
        data["output"] = out
    return data


def read_labels(path: str | Path) -> list[str]:
    """Class names from a text file, one per line (jetson-inference's labels.txt); ModelError if unusable."""
    lines = _lines(path, "model.labels")
    if any(not line for line in lines):
        raise ModelError(f"model.labels {path}: line {lines.index('') + 1} is empty; give one class name per line")
    return lines


def read_colors(path: str | Path) -> list[list[int]]:
    """Colours from a text file, one ``R G B`` (or ``R,G,B``; an alpha after them is not used) per line, each 0..255."""
    colours = []
    for number, line in enumerate(_lines(path, "model.colors"), 1):
        parts = line.replace(",", " ").split()
        if len(parts) not in (3, 4) or not all(p.isdigit() and int(p) <= 255 for p in parts):
            raise ModelError(f"model.colors {path}: line {number} is {line!r}; give 'R G B', each 0..255, one per line")
        colours.append([int(p) for p in parts[:3]])  # a fourth value (jetson-inference's alpha) is not used
    return colours


def _lines(path: str | Path, key: str) -> list[str]:
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8-sig")  # a byte-order mark is not part of a name
    except FileNotFoundError:
        raise ModelError(f"{key}: {path} does not exist; give a text file with one entry per line") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelError(f"{key}: cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    lines = [line.strip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    if not lines:
        raise ModelError(f"{key}: {path} is empty; give one entry per line")
    return lines


class _Resolver:
    """Lays a sidecar/settings mapping over an ONNX graph, checking each fact both state."""

    def __init__(self, graph: GraphInfo, data: dict[str, Any], where: str, has_sidecar: bool) -> None:
        self.graph, self.data, self.where, self.has_sidecar = graph, data, where, has_sidecar
        self.assumed: list[str] = []
        for section in ("input", "output"):
            if not isinstance(data.get(section, {}), Mapping):
                raise ModelError(f"{where}: {section} must be a mapping, got {type(data[section]).__name__}")
        self.inp: dict[str, Any] = dict(data.get("input") or {})
        self.out: dict[str, Any] = dict(data.get("output") or {})

    def refuse(self, key: str, text: str) -> ModelError:
        return ModelError(f"{self.where}: {key} {text}")

    def meta(self) -> ModelMeta:
        size = self._input()
        classes, chosen, binary = self._output(size)
        self._classes(classes, binary)
        data = {**self.data, "input": self.inp, "output": self.out}
        data.setdefault("name", self.graph.path.stem)
        meta = ModelMeta.from_dict(data, where=self.where)
        notes = []
        if len(self.graph.outputs) > 1:
            notes.append(f"using {chosen}")
        if self.assumed:
            notes.append(f"assumed {', '.join(self.assumed)}; {HOW_TO_CHANGE}")
        return dataclasses.replace(meta, notice=f"{self.graph.path.name}: {'; '.join(notes)}" if notes else "")

    def _input(self) -> tuple[int | None, int | None]:
        inputs = self.graph.inputs
        if len(inputs) != 1:
            names = ", ".join(i.describe() for i in inputs) or "none"
            raise ModelError(f"{self.graph.path.name} has {len(inputs)} inputs ({names}); segstream feeds one image "
                             "tensor: export the model with a single N×3×H×W (or N×H×W×3) input")
        node = inputs[0]
        if len(node.shape) != 4:
            raise ModelError(f"{self.graph.path.name}: input {node.describe()} has {len(node.shape)} axes; "
                             "export an image input N×3×H×W or N×H×W×3")
        found, stated = input_layout(node.shape), self.inp.get("layout")
        if found and stated and stated != found:
            raise self.refuse("input.layout", f"is {stated} but the graph input is {node.describe()} ({found}); "
                              f"set input.layout: {found} or remove it")
        layout = stated or found
        if layout is None:
            raise ModelError(f"{self.graph.path.name}: input {node.describe()} has no axis of 3 colour channels at "
                             "position 1 or 3; set input.layout (NCHW or NHWC) in a sidecar")
        self.inp["layout"] = layout
        if node.dtype not in INPUT_DTYPES:
            raise ModelError(f"{self.graph.path.name}: input {node.describe()} is {node.dtype}; segstream feeds "
                             f"{', '.join(INPUT_DTYPES)}: export the model with one of those input types")
        if self.inp.get("dtype", node.dtype) != node.dtype:
            raise self.refuse("input.dtype", f"is {self.inp['dtype']} but the graph input is {node.dtype}; "
                              f"set input.dtype: {node.dtype} or remove it")
        self.inp["dtype"], self.inp["name"] = node.dtype, node.name
        dims = (node.shape[1], node.shape[2]) if layout == "NHWC" else (node.shape[2], node.shape[3])
        for key, dim in zip(("height", "width"), dims, strict=True):
            stated_side = self.inp.get(key)
            if dim is not None and stated_side is not None and stated_side != dim:
                raise self.refuse(f"input.{key}", f"is {stated_side} but the graph input takes a fixed {dim} "
                                  f"({node.describe()}); set input.{key}: {dim} or remove it")
            if dim is not None:
                self.inp[key] = dim
            elif stated_side is None:
                self.inp[key] = DEFAULT_SIDE
        if None in dims and not ({"height", "width"} <= set(self.data.get("input") or {})):
            self.assumed.append(f"input {self.inp['height']}x{self.inp['width']} (the graph takes any size; "
                                "preprocess.size to change)")
        self.inp["dynamic_batch"] = node.shape[0] is None
        self.inp["dynamic_size"] = None in dims
        self._normalisation(node.dtype)
        return dims

    def _normalisation(self, dtype: str) -> None:
        inp, graph_normalises = self.inp, self.inp.get("normalized_in_graph")
        if dtype == "uint8":
            if graph_normalises is False:
                raise self.refuse("input.normalized_in_graph", "is false but the graph takes uint8 pixels, which "
                                  "it must convert itself; set it to true or remove it")
            inp["normalized_in_graph"] = True
            self._default("color", "RGB", "RGB uint8 pixels")
            return
        if graph_normalises:
            if "scale" not in inp:
                raise self.refuse("input.normalized_in_graph", "is true for a float input, so the pixel range the "
                                  "graph takes must be said: add input.scale: 255 (0..255) or input.scale: 1 (0..1)")
            self._default("color", "RGB", "RGB")
            return
        inp["normalized_in_graph"] = False
        missing = [key for key in ("mean", "std") if key not in inp]
        if len(missing) == 2 and "scale" not in inp:
            self.assumed.append("ImageNet mean/std in 0..1 units (input.mean, input.std, input.scale)")
        else:
            self.assumed += [f"ImageNet's {key} (input.{key})" for key in missing]
        inp.setdefault("mean", list(IMAGENET_MEAN))
        inp.setdefault("std", list(IMAGENET_STD))
        self._default("color", "RGB", "RGB")

    def _default(self, key: str, value: Any, said: str) -> None:
        if key not in self.inp:
            self.inp[key] = value
            self.assumed.append(f"{said} (input.{key})")

    def _output(self, size: tuple[int | None, int | None]) -> tuple[int | None, str, bool]:
        output, chosen = pick_output(self.graph, self.out.get("name"), "output.name (model.output)")
        found = output_convention(output, self.graph.origin(output.name), size, self.inp["layout"])
        stated = self.out.get("kind")
        if stated is not None and stated != found.kind:
            scores = {"logits", "probabilities"}
            ending = self.graph.origin(output.name).ending
            if not (stated in scores and found.kind in scores and not ending):
                what = f"ends in {ending}" if ending and found.kind != "classmap" else f"is {output.describe()}"
                raise self.refuse("output.kind", f"is {stated} but the graph's output {what} ({found.kind}); "
                                  f"set output.kind: {found.kind} or remove it")
            found = type(found)(stated, found.layout, found.channels, found.layout_certain)
        layout = self.out.get("layout")
        if layout is not None and layout != found.layout and found.layout_certain and found.kind != "classmap":
            raise self.refuse("output.layout", f"is {layout} but the graph's output {output.describe()} has its "
                              f"classes on the {found.layout} axis; set output.layout: {found.layout} or remove it")
        if layout is None and not found.layout_certain:
            self.assumed.append(f"output classes on the {found.layout} axis like the input (output.layout)")
        self.out.update(name=output.name, kind=found.kind, dtype=output.dtype, layout=layout or found.layout)
        if found.num_classes is None and "class_names" not in self.data:
            raise ModelError(f"{self.graph.path.name}: output {output.describe()} does not say how many classes it has; "
                             "give the class names with --labels FILE (one per line) or class_names in a sidecar")
        return found.num_classes, chosen, found.channels == 1

    def _classes(self, count: int | None, binary_channel: bool) -> None:
        names = self.data.get("class_names")
        if names is not None and count is not None and len(names) != count:
            binary = " (one output channel is a binary model: 2 classes, background first)" if binary_channel else ""
            raise self.refuse("class_names", f"lists {len(names)} classes but the graph's output has {count}{binary}; "
                              f"give {count} names (model.labels or class_names) or use the matching model")
        if names is None:
            self.data["class_names"] = list(default_names(count or 0))
            self.assumed.append(f"class names {_span(self.data['class_names'])} (model.labels)")
        total = len(self.data["class_names"])
        declared = self.data.get("num_classes")
        if declared is not None and declared != total:
            raise self.refuse("num_classes", f"is {declared} but the model has {total} classes; fix or remove it")
        palette = self.data.get("palette")
        if palette is not None and len(palette) != total:
            raise self.refuse("palette", f"lists {len(palette)} colours for {total} classes; give one colour per "
                              "class (model.colors or palette)")
        if palette is None:
            self.data["palette"] = [list(c) for c in default_palette(total)]
            self.assumed.append("the PASCAL VOC palette (model.colors)")


def _span(names: list[str]) -> str:
    return ", ".join(names) if len(names) <= 3 else f"{names[0]}..{names[-1]}"
