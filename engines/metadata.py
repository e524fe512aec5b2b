"""Model sidecar metadata: everything the pipeline needs to run a model file with no extra flags.

A model ``name.onnx`` (or ``name.pt``, ``name.engine``) has a sidecar ``name.yaml`` beside it. The
sidecar says what the graph expects (size, layout, dtype, channel order, whether normalisation is
inside), what it returns (logits or a uint8 class map), the classes and palette, and where the
weights came from. It is plain YAML so that people, Triton configs and other tools can read it;
it is read strictly (``segcore.strict_yaml``): a key given twice is refused with its line, and the
numbers it holds must be finite and inside their ranges.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import yaml

from engines.errors import ModelError
from segcore.files import write_atomic
from segcore.strict_yaml import load_yaml, yaml_error

FORMAT = "segstream-model/1"
MAX_SIDE = 16384  # an input side, in pixels
SIDECAR_SUFFIXES = (".yaml", ".yml", ".json")

Layout = Literal["NCHW", "NHWC"]
DType = Literal["float32", "float16", "uint8"]
# what an output may be: any float for scores, any integer for a class map
OutputDType = Literal["float32", "float16", "float64", "uint8", "int8", "uint16", "int16", "uint32", "int32",
                      "uint64", "int64", "bool"]
OUTPUT_DTYPES: tuple[str, ...] = get_args(OutputDType)
# logits and probabilities: N×K×h×w (or N×h×w×K, output.layout NHWC) scores at any h×w, argmax'd by the
# host; one channel is a binary model (background, foreground: above 0 for logits, above 0.5 for
# probabilities); classmap: N×h×w or N×1×h×w class ids of any integer dtype (argmax inside the graph)
OutputKind = Literal["logits", "probabilities", "classmap"]
SCALES = (1, 255)  # input.scale: the units of input.mean and input.std (and of a float graph's raw input)

# what an engine can be built in (the TensorRT builder's --precision, model.options.precision);
# a sidecar's graph precision is fp32 or fp16, int8 comes from calibration at build time
Precision = Literal["fp32", "fp16", "int8"]
PRECISIONS: tuple[str, ...] = get_args(Precision)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class InputSpec:
    """What the graph's single input expects.

    ``mean``/``std`` are in RGB order, in the units ``scale`` says: 1 for 0..1 (torchvision's
    0.485, ...), 255 for 0..255 (mmsegmentation's 123.675, ...); they are applied by the host
    unless ``normalized_in_graph`` is true. A float graph that normalises inside takes the pixels
    as they are, in ``scale`` units (0..1 or 0..255). ``height``/``width`` are the size the model
    was exported (or trained) at; with ``dynamic_size`` other sizes are accepted too.
    """

    name: str = "input"
    layout: Layout = "NCHW"
    dtype: DType = "float32"
    color: Literal["RGB", "BGR"] = "RGB"
    height: int = 512
    width: int = 1024
    dynamic_batch: bool = False
    dynamic_size: bool = False
    normalized_in_graph: bool = False
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    scale: int = 1


@dataclass(frozen=True)
class OutputSpec:
    """The graph output the pipeline reads: scores (logits or probabilities) or a class map.

    ``layout`` is where the class axis of scores is: NCHW (N×K×h×w) or NHWC (N×h×w×K). Scores
    with one channel are a binary model (2 classes). A class map is N×h×w or N×1×h×w.
    """

    name: str = "logits"
    kind: OutputKind = "logits"
    dtype: OutputDType = "float32"
    layout: Layout = "NCHW"

    @property
    def scores(self) -> bool:
        """Whether the host argmaxes (logits or probabilities), so bilinear upsampling and EMA apply."""
        return self.kind != "classmap"


@dataclass(frozen=True)
class ModelMeta:
    name: str
    class_names: tuple[str, ...]
    palette: tuple[tuple[int, int, int], ...]  # RGB
    input: InputSpec = field(default_factory=InputSpec)
    output: OutputSpec = field(default_factory=OutputSpec)
    architecture: Mapping[str, Any] = field(default_factory=dict)  # {"name": ..., "kwargs": {...}}
    precision: Literal["fp32", "fp16"] = "fp32"
    opset: int | None = None
    provenance: Mapping[str, Any] = field(default_factory=dict)
    metrics: Mapping[str, Any] = field(default_factory=dict)
    # what was assumed because neither the graph nor a sidecar said it (one line; not saved)
    notice: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if len(self.class_names) != len(self.palette):
            raise ModelError(
                f"model {self.name!r}: {len(self.class_names)} class names but {len(self.palette)} palette "
                "colours; fix the sidecar so both lists have one entry per class"
            )
        if not self.class_names:
            raise ModelError(f"model {self.name!r}: the sidecar lists no classes")

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data.pop("notice")
        data = {"format": FORMAT, **data}
        data["class_names"] = list(self.class_names)
        data["palette"] = [list(c) for c in self.palette]
        data["input"]["mean"] = [float(v) for v in self.input.mean]
        data["input"]["std"] = [float(v) for v in self.input.std]
        data["architecture"] = _plain(self.architecture)
        data["provenance"] = _plain(self.provenance)
        data["metrics"] = _plain(self.metrics)
        data["num_classes"] = self.num_classes
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "sidecar") -> ModelMeta:
        if not isinstance(data, Mapping):
            raise ModelError(f"{where}: expected a mapping at the top level, got {type(data).__name__}")
        fmt = data.get("format", FORMAT)
        if fmt != FORMAT:
            raise ModelError(f"{where}: unsupported sidecar format {fmt!r}; this version reads {FORMAT!r}")
        try:
            class_names = tuple(str(n) for n in data["class_names"])
            palette = tuple(_colour(c, where) for c in data["palette"])
            inp = InputSpec(**_known(InputSpec, data.get("input", {}), f"{where}: input"))
            inp = dataclasses.replace(
                inp, mean=tuple(float(v) for v in inp.mean), std=tuple(float(v) for v in inp.std)  # type: ignore[arg-type]
            )
            out = OutputSpec(**_known(OutputSpec, data.get("output", {}), f"{where}: output"))
            meta = cls(
                name=str(data["name"]),
                class_names=class_names,
                palette=palette,
                input=inp,
                output=out,
                architecture=dict(data.get("architecture") or {}),
                precision=data.get("precision", "fp32"),
                opset=data.get("opset"),
                provenance=dict(data.get("provenance") or {}),
                metrics=dict(data.get("metrics") or {}),
            )
        except KeyError as exc:
            raise ModelError(f"{where}: required key {exc.args[0]!r} is missing") from None
        except (TypeError, ValueError, OverflowError) as exc:
            if isinstance(exc, ModelError):
                raise
            raise ModelError(f"{where}: {exc}") from None
        declared = data.get("num_classes")
        if declared is not None and (not isinstance(declared, int) or declared != meta.num_classes):
            raise ModelError(
                f"{where}: num_classes is {declared} but {meta.num_classes} class names are listed"
            )
        _check_choices(meta, where)
        return meta

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        text = yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=None, width=100)
        write_atomic(path, text.encode())  # nothing half-written, no temporary file left on failure
        return path

    @classmethod
    def load(cls, path: str | Path) -> ModelMeta:
        path = Path(path)
        try:
            text = path.read_text()
        except FileNotFoundError:
            raise ModelError(f"model sidecar {path} does not exist; export the model with "
                             "'python -m engines.models.export' to write one") from None
        except OSError as exc:
            raise ModelError(f"cannot read model sidecar {path}: {exc.strerror}") from None
        try:
            data = load_yaml(text)
        except yaml.YAMLError as exc:  # a key given twice included: one of the two would be ignored
            raise ModelError(yaml_error(exc, f"model sidecar {path}")) from None
        return cls.from_dict(data, where=str(path))


def sidecar_path(model_path: str | Path) -> Path | None:
    """The sidecar that belongs to ``model_path`` (``x.onnx`` → ``x.yaml``), or None if absent."""
    model_path = Path(model_path)
    for suffix in SIDECAR_SUFFIXES:
        candidate = model_path.with_suffix(suffix)
        if candidate.is_file():
            return candidate
    return None


def load_for_model(model_path: str | Path) -> ModelMeta:
    """Load the sidecar of ``model_path`` or raise a ModelError that says how to make one."""
    found = sidecar_path(model_path)
    if found is None:
        raise ModelError(
            f"model {model_path} has no sidecar ({Path(model_path).with_suffix('.yaml').name}); "
            "export it with 'python -m engines.models.export' or write one (see docs/model-format.md)"
        )
    return ModelMeta.load(found)


def _known(kind: type, data: Mapping[str, Any], where: str) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        raise ModelError(f"{where}: expected a mapping, got {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(kind)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ModelError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}")
    return dict(data)


def _colour(value: Any, where: str) -> tuple[int, int, int]:
    if not isinstance(value, Sequence) or len(value) != 3:
        raise ModelError(f"{where}: palette entry {value!r} is not an [R, G, B] triple")
    r, g, b = (int(v) for v in value)
    if not all(0 <= v <= 255 for v in (r, g, b)):
        raise ModelError(f"{where}: palette entry {value!r} has a value outside 0..255")
    return (r, g, b)


def _check_choices(meta: ModelMeta, where: str) -> None:
    checks = [
        ("input.layout", meta.input.layout, ("NCHW", "NHWC")),
        ("input.dtype", meta.input.dtype, ("float32", "float16", "uint8")),
        ("input.color", meta.input.color, ("RGB", "BGR")),
        ("input.scale", meta.input.scale, SCALES),
        ("output.kind", meta.output.kind, get_args(OutputKind)),
        ("output.dtype", meta.output.dtype, OUTPUT_DTYPES),
        ("output.layout", meta.output.layout, ("NCHW", "NHWC")),
        ("precision", meta.precision, ("fp32", "fp16")),
    ]
    for key, value, allowed in checks:
        if value not in allowed:
            raise ModelError(f"{where}: {key} is {value!r}; expected one of {', '.join(str(a) for a in allowed)}")
    floats = meta.output.dtype.startswith("float")
    if meta.output.kind == "classmap" and floats:
        raise ModelError(f"{where}: a classmap output holds integer class ids, not {meta.output.dtype}; "
                         "set output.kind: logits or probabilities for float scores")
    if meta.output.kind != "classmap" and not floats:
        raise ModelError(f"{where}: output.kind {meta.output.kind} needs float scores, but output.dtype is "
                         f"{meta.output.dtype}; set output.kind: classmap for integer class ids")
    if meta.input.dtype == "uint8" and not meta.input.normalized_in_graph:
        raise ModelError(f"{where}: a uint8 input needs normalized_in_graph: true")
    for key, side in (("input.height", meta.input.height), ("input.width", meta.input.width)):
        if isinstance(side, bool) or not isinstance(side, int) or not 1 <= side <= MAX_SIDE:
            raise ModelError(f"{where}: {key} is {side!r}; it must be an integer in 1..{MAX_SIDE}")
    for key, values in (("input.mean", meta.input.mean), ("input.std", meta.input.std)):
        if len(values) != 3 or not all(math.isfinite(v) for v in values):
            raise ModelError(f"{where}: {key} is {list(values)}; it must be 3 finite numbers (R, G, B)")
    if min(meta.input.std) <= 0:
        raise ModelError(f"{where}: input.std is {list(meta.input.std)}; every value must be above 0")
    check_units(meta.input, where)
    if meta.num_classes > 255:
        raise ModelError(f"{where}: {meta.num_classes} classes do not fit the uint8 class maps segstream writes")


def check_units(spec: InputSpec, where: str) -> None:
    """Refuse mean/std that cannot be in the units ``input.scale`` says (0..255 values read as 0..1)."""
    if spec.normalized_in_graph:
        return
    if spec.scale == 255 and max(spec.std) < 1:
        raise ModelError(
            f"{where}: input.std is {[float(v) for v in spec.std]} with input.scale: 255, a spread under one grey "
            "level in 0..255 units; for 0..1 units (torchvision's) set input.scale: 1"
        )
    if spec.scale != 1:
        return
    for key, values in (("input.mean", spec.mean), ("input.std", spec.std)):
        if max(abs(v) for v in values) > 1:
            raise ModelError(
                f"{where}: {key} is {[float(v) for v in values]}, above 1 in 0..1 units; for 0..255 units "
                "(mmsegmentation's) add input.scale: 255, or give them in 0..1 units (divide by 255)"
            )


def _plain(value: Any) -> Any:
    """Turn tuples, Paths and numpy scalars into YAML-safe plain values."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    return value

