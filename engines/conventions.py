"""What a graph's facts mean, and what is assumed when nothing says: layouts, output kinds, classes.

``input_layout`` reads NCHW or NHWC from which axis holds 3 channels. ``pick_output`` chooses the
output to read (a name given, the only one, or a well-known name such as torchvision's ``out``
or Hugging Face's ``logits``). ``output_convention`` decides what that output holds from its
shape, dtype and the operator the graph ends in: logits or probabilities with the class axis
first or last, one channel (a binary model), or integer class ids; anything else is refused.
The defaults for what no graph says are torchvision's: RGB, ImageNet mean/std in 0..1 units,
``class_0``… names and the PASCAL VOC palette.
"""

from __future__ import annotations

from dataclasses import dataclass

from engines.errors import ModelError
from engines.graph import GraphInfo, OutputOrigin, TensorInfo

DEFAULT_SIDE = 512  # the input side assumed for a graph that accepts any size, unless told
MAX_CLASSES = 255  # a class map is uint8 everywhere downstream
# output names that mean "the segmentation", in order of preference, when a graph has several
PREFERRED_OUTPUTS = ("out", "logits", "output", "outputs", "seg", "segmentation", "classmap", "class_map",
                     "pred", "preds", "prediction", "probs", "probabilities", "scores", "mask", "masks")
BINARY_NAMES = ("background", "foreground")


@dataclass(frozen=True)
class OutputConvention:
    kind: str  # logits | probabilities | classmap
    layout: str  # NCHW | NHWC: where the class axis of scores is
    channels: int | None  # the class axis' size (1: binary), or for a class map the ArgMax's, when known
    layout_certain: bool = True  # False: the shape fits both layouts and the input's was assumed

    @property
    def num_classes(self) -> int | None:
        return 2 if self.channels == 1 else self.channels


def input_layout(shape: tuple[int | None, ...]) -> str | None:
    """NCHW when axis 1 holds the 3 colour channels, NHWC when axis 3 does; None when unclear."""
    if len(shape) != 4:
        return None
    first, last = shape[1] == 3, shape[3] == 3
    if first != last:
        return "NCHW" if first else "NHWC"
    return None


def pick_output(graph: GraphInfo, name: str | None, key: str) -> tuple[TensorInfo, str]:
    """The output to read and why: ``name`` (from ``key``), the only output, or a well-known name."""
    listed = ", ".join(o.describe() for o in graph.outputs)
    if name:
        found = graph.output(name)
        if found is None:
            raise ModelError(f"{key} is {name!r} but {graph.path.name} has no such output (it has: {listed}); "
                             "set it to one of them")
        return found, f"output {name!r} ({key})"
    if len(graph.outputs) == 1:
        return graph.outputs[0], f"output {graph.outputs[0].name!r}"
    names = [o.name for o in graph.outputs]
    for preferred in PREFERRED_OUTPUTS:
        for output in graph.outputs:
            if output.name.lower() == preferred:
                return output, f"output {output.name!r} of {', '.join(names)} (by its name; --set model.output=NAME for another)"
    raise ModelError(f"{graph.path.name} has {len(names)} outputs ({listed}) and none has a well-known name; "
                     "choose one with --set model.output=NAME (or output.name in the sidecar)")


def output_convention(
    output: TensorInfo, origin: OutputOrigin, input_size: tuple[int | None, int | None], input_layout: str
) -> OutputConvention:
    """What ``output`` holds, from its shape and dtype and what the graph ends in; ModelError if
    it is neither scores nor a class map."""
    shape, dtype = output.shape, output.dtype
    what = f"output {output.describe()}"
    integer = dtype.startswith(("int", "uint")) or dtype == "bool"
    if not integer and not dtype.startswith("float"):
        raise ModelError(f"{what}: a {dtype} output is neither scores nor a class map; "
                         "export a float (logits, probabilities) or integer (class ids) output")
    if integer:
        single = len(shape) == 3 or (len(shape) == 4 and (shape[1] == 1 or shape[3] == 1))
        if not single:
            raise ModelError(f"{what}: integer outputs must be class maps N×H×W or N×1×H×W; "
                             "export the class ids (ArgMax) or float scores")
        if dtype == "bool":  # a thresholded mask: background (false) and foreground (true)
            return OutputConvention("classmap", "NCHW", 2)
        return OutputConvention("classmap", "NCHW", origin.argmax_classes)
    if origin.ending == "ArgMax":
        raise ModelError(f"{what}: the graph's ArgMax result is cast to {dtype}; "
                         "cast the class ids to an integer type (uint8, int32, int64) in the graph")
    if len(shape) != 4:
        raise ModelError(f"{what}: {len(shape)} axes; segmentation scores are N×K×H×W (or N×H×W×K), "
                         "a class map N×H×W of integers")
    kind = "probabilities" if origin.ending in ("Softmax", "Sigmoid") else "logits"
    first = _fit((shape[2], shape[3]), shape[1], input_size)  # N×K×h×w
    last = _fit((shape[1], shape[2]), shape[3], input_size)  # N×h×w×K
    if shape[1] == 1 and shape[3] != 1:
        last = 0  # 1×1×h×w: one channel, not h×w×K with h = 1
    if max(first, last) == 0:
        raise ModelError(f"{what}: no axis of it can be the class axis beside two image axes for this input; "
                         "export N×K×H×W (or N×H×W×K) scores")
    if first == last:
        layout, certain = input_layout, False
    else:
        layout, certain = ("NCHW" if first > last else "NHWC"), True
    channels = shape[1] if layout == "NCHW" else shape[3]
    if channels is not None and channels > MAX_CLASSES:
        raise ModelError(f"{what}: {channels} classes; at most {MAX_CLASSES} fit the uint8 class maps segstream writes")
    return OutputConvention(kind, layout, channels, certain)


def _fit(pair: tuple[int | None, int | None], channels: int | None, input_size: tuple[int | None, int | None]) -> int:
    """How well axes ``pair`` fit an image's h×w and ``channels`` a class axis: 2 surely, 1 maybe, 0 not.

    Sizes proportional to a fixed input (within 10 %: a stride that does not divide it rounds) are
    sure, other fixed sizes are not image axes; a dynamic
    axis fits an input of any size surely, a fixed input weakly (its output would be fixed too)."""
    if channels is not None and channels > 4096:
        return 0
    a, b = pair
    known = None not in input_size
    if a is not None and b is not None:
        if not known:
            return 1
        height, width = input_size
        along, across = a / height, b / width  # type: ignore[operator]
        return 2 if abs(along - across) <= 0.1 * max(along, across) else 0  # strides that do not divide: 12x20 of 360x640
    if a is None and b is None and not known:
        return 2
    return 1


def default_names(count: int) -> tuple[str, ...]:
    if count == 2:
        return BINARY_NAMES
    return tuple(f"class_{i}" for i in range(count))


def default_palette(count: int) -> tuple[tuple[int, int, int], ...]:
    """The PASCAL VOC colour map (torchvision's and most toolkits'): class i's bits spread over R, G, B."""
    colours = []
    for index in range(count):
        r = g = b = 0
        value = index
        for shift in range(7, -1, -1):
            r |= (value & 1) << shift
            g |= ((value >> 1) & 1) << shift
            b |= ((value >> 2) & 1) << shift
            value >>= 3
        colours.append((r, g, b))
    if count == 2:
        colours[1] = (255, 255, 255)  # a binary mask: white foreground on black
    return tuple(colours)
