"""Foreign segmentation models, exported with ``torch.onnx.export`` as other toolkits would, whose
output is a known function of the input, so the right class map of a test image is known exactly.

Every model matches colour templates: class ``k`` has a colour ``COLOURS[k]``, and its score at
a pixel is ``2·c_k·x − |c_k|²`` where ``x`` and ``c_k`` are the pixel and the template in the
model's own input space (after its colour order, scale and mean/std), which is a hand-set 1×1
convolution. The argmax is the template nearest to the pixel, so an image painted in the
template colours has exactly that class map — and a host that feeds the wrong colour order,
scale or mean/std gets another one. Between two templates the scores cross half way, so
bilinear upsampling of a two-colour image is exact too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# RGB template colours: black, red, green, blue, yellow, white
COLOURS = np.array([[0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0], [255, 255, 255]], np.float64)


@dataclass(frozen=True)
class Convention:
    """How a foreign model wants its input and gives its output."""

    color: str = "RGB"
    mean: tuple[float, float, float] = IMAGENET_MEAN  # RGB, in 0..1 units
    std: tuple[float, float, float] = IMAGENET_STD
    in_graph: str = "none"  # none | uint8 (uint8 pixels, normalised in the graph) | float255 (0..255 floats)
    input_layout: str = "NCHW"
    stride: int = 1  # output resolution divisor (average pooling before the templates)
    output: str = "logits"  # logits | nhwc | softmax | argmax | argmax_keepdim | argmax_int32 | sigmoid | binary_logits
    aux_first: bool = False  # a second, wrong output listed before the real one ("aux", then "out")
    two_inputs: bool = False
    size: tuple[int, int] | None = (64, 64)  # fixed (height, width), None: dynamic


def pixel_space(rgb: np.ndarray, c: Convention) -> np.ndarray:
    """RGB 0..255 values (…×3) → what the model's templates are written in (its normalised space)."""
    x = rgb.astype(np.float64)
    if c.color == "BGR":
        x = x[..., ::-1]
    mean, std = np.asarray(c.mean) * 255.0, np.asarray(c.std) * 255.0
    if c.color == "BGR":
        mean, std = mean[::-1], std[::-1]
    return (x - mean) / std


def export(directory: Path, name: str, c: Convention, classes: int = 6) -> Path:
    templates = pixel_space(COLOURS[:classes], c)  # K×3
    if c.output in ("sigmoid", "binary_logits"):  # foreground = colour 1 (red) vs colour 0 (black)
        t = pixel_space(COLOURS[:2], c)
        weight = 2 * (t[1] - t[0])[None]
        bias = np.array([-(t[1] @ t[1]) + t[0] @ t[0]])
    else:
        weight = 2 * templates
        bias = -(templates**2).sum(axis=1)
    model = _Model(torch.tensor(weight, dtype=torch.float32), torch.tensor(bias, dtype=torch.float32), c)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.onnx"
    h, w = c.size or (64, 64)
    dtype = torch.uint8 if c.in_graph == "uint8" else torch.float32
    shape = (1, h, w, 3) if c.input_layout == "NHWC" else (1, 3, h, w)
    example = (torch.zeros(shape, dtype=dtype),) * (2 if c.two_inputs else 1)
    inputs = ["image", "extra"] if c.two_inputs else ["image"]
    outputs = ["aux", "out"] if c.aux_first else ["out"]
    axes = {}
    if c.size is None:
        hw = {1: "h", 2: "w"} if c.input_layout == "NHWC" else {2: "h", 3: "w"}
        axes = {"image": {0: "n", **hw}}
    torch.onnx.export(model, example, str(path), input_names=inputs, output_names=outputs, dynamo=False,
                      opset_version=17, dynamic_axes=axes or None)
    return path


class _Model(torch.nn.Module):
    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, c: Convention) -> None:
        super().__init__()
        self.c = c
        self.conv = torch.nn.Conv2d(3, weight.shape[0], 1)
        with torch.no_grad():
            self.conv.weight.copy_(weight[:, :, None, None])
            self.conv.bias.copy_(bias)
        m = np.asarray(c.mean) * 255.0
        s = np.asarray(c.std) * 255.0
        if c.color == "BGR":
            m, s = m[::-1], s[::-1]
        self.register_buffer("mean", torch.tensor(m.copy(), dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(s.copy(), dtype=torch.float32).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor, *extra: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        c = self.c
        if c.input_layout == "NHWC":
            x = x.permute(0, 3, 1, 2)
        if c.in_graph in ("uint8", "float255"):
            x = (x.float() - self.mean) / self.std
        if c.stride > 1:
            x = torch.nn.functional.avg_pool2d(x, c.stride)
        scores = self.conv(x)
        if c.output == "nhwc":
            return scores.permute(0, 2, 3, 1)
        if c.output in ("softmax",):
            out = torch.softmax(scores, dim=1)
        elif c.output == "sigmoid":
            out = torch.sigmoid(scores)
        elif c.output == "argmax":
            out = scores.argmax(dim=1)
        elif c.output == "argmax_keepdim":
            out = scores.argmax(dim=1, keepdim=True)
        elif c.output == "argmax_int32":
            out = scores.argmax(dim=1).to(torch.int32)
        else:
            out = scores
        if c.aux_first:
            return -scores, out
        return out


def painted(height: int, width: int, layout: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A BGR frame painted in template colours from a small grid of class ids, and its class map."""
    rows, cols = layout.shape
    ids = np.repeat(np.repeat(layout, height // rows, axis=0), width // cols, axis=1).astype(np.uint8)
    rgb = COLOURS[ids].astype(np.uint8)
    return np.ascontiguousarray(rgb[..., ::-1]), ids
