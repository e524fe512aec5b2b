"""Frames to model input and model output back to frames: the one place where geometry lives.

The pipeline's preprocess/postprocess stages, the evaluator and the trainer all call these
functions, so a frame is resized, colour-converted, normalised and mapped back identically
everywhere (the streamed mIoU equals the evaluator's because of this).

Geometry: a frame of W×H is resized to the model's w×h either by *stretching* or by
*letterboxing* (keep aspect, pad). ``Geometry`` records the content box inside the model input so
the class map can be cropped and resized back. Masks always use nearest-neighbour
(``INTER_NEAREST_EXACT``: pixel-centre aligned, unlike OpenCV's plain ``INTER_NEAREST``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import cv2
import numpy as np

from engines.decode import class_ids
from engines.metadata import InputSpec, OutputSpec
from segcore.errors import ConfigError

ResizeMode = Literal["stretch", "letterbox"]  # the one list of resize modes (preprocess.resize's type)
RESIZE_MODES: tuple[str, ...] = get_args(ResizeMode)
PAD_VALUE = 0


@dataclass(frozen=True)
class Geometry:
    """Where a source frame sits inside the model input."""

    src_height: int
    src_width: int
    model_height: int
    model_width: int
    x0: int = 0  # content box in model pixels
    y0: int = 0
    content_width: int = 0
    content_height: int = 0

    @property
    def is_identity(self) -> bool:
        return (self.src_height, self.src_width) == (self.model_height, self.model_width) and self.x0 == 0 and self.y0 == 0


def resize_image(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize an image for the model: area averaging when shrinking, bilinear when enlarging."""
    h, w = image.shape[:2]
    if (w, h) == (width, height):
        return image
    shrinking = width * height < w * h
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def resize_mask(mask: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize a label or class map: nearest neighbour, pixel-centre aligned, dtype kept."""
    if mask.shape[1] == width and mask.shape[0] == height:
        return mask
    return cv2.resize(mask, (width, height), interpolation=cv2.INTER_NEAREST_EXACT)


def fit_geometry(src_height: int, src_width: int, height: int, width: int, mode: ResizeMode = "stretch") -> Geometry:
    """Where a ``src_width``×``src_height`` frame lands in a ``width``×``height`` model input."""
    if mode == "stretch":
        return Geometry(src_height, src_width, height, width, 0, 0, width, height)
    if mode != "letterbox":
        raise ConfigError(f"resize mode is {mode!r}; allowed values: {', '.join(RESIZE_MODES)}")
    scale = min(width / src_width, height / src_height)
    cw, ch = max(1, round(src_width * scale)), max(1, round(src_height * scale))
    return Geometry(src_height, src_width, height, width, (width - cw) // 2, (height - ch) // 2, cw, ch)


def fit(image: np.ndarray, height: int, width: int, mode: ResizeMode = "stretch") -> tuple[np.ndarray, Geometry]:
    """Resize a BGR uint8 frame to the model size; return the resized frame and its geometry."""
    g = fit_geometry(image.shape[0], image.shape[1], height, width, mode)
    if mode == "stretch":
        return resize_image(image, width, height), g
    canvas = np.full((height, width, 3), PAD_VALUE, dtype=np.uint8)
    canvas[g.y0 : g.y0 + g.content_height, g.x0 : g.x0 + g.content_width] = resize_image(image, g.content_width, g.content_height)
    return canvas, g


def to_input(images: Sequence[np.ndarray], spec: InputSpec) -> np.ndarray:
    """Stack already-fitted BGR uint8 images into the batch ``spec`` asks for.

    A uint8 model takes the frames as they are (the graph converts and normalises); a float
    model gets RGB or BGR as declared, normalised with the sidecar's mean/std (in ``spec.scale``
    units), or, when it normalises in the graph, the pixels as they are in ``spec.scale`` units
    (0..1 or 0..255).
    """
    batch = np.stack(images) if len(images) > 1 else images[0][None]
    if spec.color == "RGB":
        batch = batch[..., ::-1]
    if spec.dtype == "uint8":
        if spec.layout == "NCHW":
            batch = batch.transpose(0, 3, 1, 2)
        return np.ascontiguousarray(batch)
    if spec.normalized_in_graph:
        scale = np.full(3, spec.scale / 255.0, dtype=np.float32)
        offset = np.zeros(3, dtype=np.float32)
    else:
        mean = np.asarray(spec.mean, dtype=np.float64) / spec.scale  # 0..1 units
        std = np.asarray(spec.std, dtype=np.float64) / spec.scale
        if spec.color == "BGR":
            mean, std = mean[::-1], std[::-1]
        scale = (1.0 / (255.0 * std)).astype(np.float32)
        offset = (-mean / std).astype(np.float32)
    data = batch.astype(np.float32) * scale + offset
    if spec.layout == "NCHW":
        data = data.transpose(0, 3, 1, 2)
    data = np.ascontiguousarray(data)
    return data.astype(np.float16) if spec.dtype == "float16" else data


def to_class_maps(output: np.ndarray, spec: OutputSpec) -> np.ndarray:
    """A batch of engine output in ``spec``'s convention → N×h×w uint8 class maps."""
    if spec.kind == "classmap" and output.dtype == np.uint8 and output.ndim == 3:
        return output
    return np.stack([class_ids(frame, spec) for frame in output])


def _source_positions(g: Geometry, out_height: int, out_width: int) -> tuple[np.ndarray, np.ndarray]:
    """Where each source pixel's centre lands in an ``out_height``×``out_width`` model output
    (continuous coordinates, pixel ``i`` spanning ``[i, i + 1)``): the letterbox content box is
    taken in the output's own coordinates, whatever its resolution."""
    ys = (g.y0 + (np.arange(g.src_height) + 0.5) * (g.content_height / g.src_height)) * (out_height / g.model_height)
    xs = (g.x0 + (np.arange(g.src_width) + 0.5) * (g.content_width / g.src_width)) * (out_width / g.model_width)
    return ys, xs


def restore_class_map(class_map: np.ndarray, geometry: Geometry) -> np.ndarray:
    """Crop the letterbox padding away and resize a class map (model size or any other output
    resolution) to the source frame size: nearest neighbour, pixel-centre aligned."""
    g = geometry
    h, w = class_map.shape[:2]
    if (h, w) == (g.model_height, g.model_width):
        content = class_map[g.y0 : g.y0 + g.content_height, g.x0 : g.x0 + g.content_width]
        return resize_mask(content, g.src_width, g.src_height)
    ys, xs = _source_positions(g, h, w)
    rows = np.clip(np.floor(ys).astype(np.intp), 0, h - 1)
    cols = np.clip(np.floor(xs).astype(np.intp), 0, w - 1)
    return np.ascontiguousarray(class_map[rows][:, cols])


def _clamp(index: np.ndarray, start: float, end: float) -> np.ndarray:
    """Sample positions (cell index units) kept between the first and last cell wholly inside the
    content from ``start`` to ``end`` (output coordinates), or, when no cell is, the cells it touches."""
    first, last = math.floor(start + 1e-6), math.ceil(end - 1e-6) - 1
    if math.ceil(start - 1e-6) <= math.floor(end + 1e-6) - 1:  # at least one cell wholly inside
        first, last = math.ceil(start - 1e-6), math.floor(end + 1e-6) - 1
    return np.clip(index, first, max(first, last))


def restore_logits(logits: np.ndarray, geometry: Geometry) -> np.ndarray:
    """K×h×w scores (model size or any other output resolution) → source-size class map by
    bilinear upsampling of the scores (half-pixel centres), then argmax."""
    g = geometry
    k, h, w = logits.shape
    if k == 1:  # a single class collapses the channel axis
        return np.zeros((g.src_height, g.src_width), dtype=np.uint8)
    if (h, w) == (g.model_height, g.model_width):
        content = logits[:, g.y0 : g.y0 + g.content_height, g.x0 : g.x0 + g.content_width].astype(np.float32)
        hwk = np.ascontiguousarray(content.transpose(1, 2, 0))
        up = cv2.resize(hwk, (g.src_width, g.src_height), interpolation=cv2.INTER_LINEAR)
    else:
        ys, xs = _source_positions(g, h, w)
        # sample at the cell centres (index i at i + 0.5), never reaching into the padding: the
        # cells wholly outside the content box are left out, as the crop above leaves them out
        ys = _clamp(ys - 0.5, g.y0 * h / g.model_height, (g.y0 + g.content_height) * h / g.model_height)
        xs = _clamp(xs - 0.5, g.x0 * w / g.model_width, (g.x0 + g.content_width) * w / g.model_width)
        map_x = np.broadcast_to(xs.astype(np.float32)[None, :], (g.src_height, g.src_width))
        map_y = np.broadcast_to(ys.astype(np.float32)[:, None], (g.src_height, g.src_width))
        hwk = np.ascontiguousarray(logits.astype(np.float32, copy=False).transpose(1, 2, 0))
        up = cv2.remap(hwk, np.ascontiguousarray(map_x), np.ascontiguousarray(map_y), cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_REPLICATE)
    return np.argmax(up, axis=2).astype(np.uint8)


def class_fractions(class_map: np.ndarray, num_classes: int, geometry: Geometry | None = None) -> np.ndarray:
    """Fraction of pixels per class (float32, sums to 1 over the frame's content)."""
    if geometry is not None and class_map.shape == (geometry.model_height, geometry.model_width):
        g = geometry
        class_map = class_map[g.y0 : g.y0 + g.content_height, g.x0 : g.x0 + g.content_width]
    if class_map.dtype == np.uint8 and class_map.size:
        # cv2's histogram is ~5x faster than np.bincount on a 720p map; ids >= num_classes are not counted.
        counts = cv2.calcHist([np.ascontiguousarray(class_map)], [0], None, [num_classes], [0, num_classes]).ravel()
    else:
        counts = np.bincount(class_map.ravel(), minlength=num_classes)[:num_classes].astype(np.float32)
    total = counts.sum()
    return (counts / total).astype(np.float32) if total else counts.astype(np.float32)
