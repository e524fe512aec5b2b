"""Pre- and postprocessing in torch, so frames stay on the GPU between decode and display.

The same steps as ``engines.transforms`` (and the pipeline's render stage), written as torch ops
that run on whatever device their tensors are on:

    batch = upload(frames, "cuda")                        # N×H×W×3 uint8, the only host→device copy
    fitted, geometry = fit(batch, 512, 1024, "letterbox")  # resize on the device
    x = to_input(fitted, meta.input)                       # colour order, layout, normalisation
    class_map = to_class_maps(engine.infer_tensor(x), meta.output)    # argmax on the device
    full = restore_class_map(class_map, geometry)          # crop + nearest back to the frame size
    picture = overlay(batch, full, palette, alpha=0.5)     # colourise + blend on the device
    download(full), download(picture)                      # uint8 back to the host, nothing else

Resizing follows OpenCV's choices in ``transforms.resize_image``: area averaging when the image
shrinks (computed exactly, from prefix sums; OpenCV's two-tap variant when only one axis shrinks),
bilinear with pixel-centre alignment when it grows, rounded half up to uint8 as OpenCV does.
Values match OpenCV to within 1 grey level (OpenCV's bilinear uses 11-bit fixed point).
Class maps are resized with exactly the source indices of OpenCV's ``INTER_NEAREST_EXACT``. Every
function is device-agnostic and tested on CPU tensors against the NumPy/OpenCV path.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from engines.metadata import InputSpec, OutputSpec
from engines.transforms import PAD_VALUE, Geometry, ResizeMode, fit_geometry


def upload(frames: np.ndarray | Sequence[np.ndarray], device: str | torch.device) -> torch.Tensor:
    """BGR uint8 frames (one H×W×3 array, a list of them, or an N×H×W×3 array) → N×H×W×3 on ``device``."""
    array = np.stack(frames) if isinstance(frames, Sequence) else np.asarray(frames)
    if array.ndim == 3:
        array = array[None]
    tensor = torch.from_numpy(np.ascontiguousarray(array))
    if torch.device(device).type == "cuda":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


def download(tensor: torch.Tensor) -> np.ndarray:
    """A device tensor → host numpy array (waits for the device)."""
    return tensor.detach().cpu().numpy()


def _round_u8(x: torch.Tensor) -> torch.Tensor:
    return torch.floor(x + 0.5).clamp_(0, 255).to(torch.uint8)


def _area_axis(x: torch.Tensor, size: int, dim: int) -> torch.Tensor:
    """Exact area averaging along ``dim`` (any ratio): the integral of the pixel staircase per output bin."""
    n_in = x.shape[dim]
    if size == n_in:
        return x
    x64 = x.to(torch.float64)
    zero = torch.zeros_like(x64.narrow(dim, 0, 1))
    integral = torch.cat([zero, x64.cumsum(dim)], dim)  # integral[k] = sum of pixels < k
    edges = torch.arange(size + 1, dtype=torch.float64, device=x.device) * (n_in / size)
    index = edges.floor().long().clamp_(max=n_in - 1)
    frac = edges - index
    shape = [1] * x.dim()
    shape[dim] = size + 1
    at_edges = integral.index_select(dim, index) + frac.view(shape) * x64.index_select(dim, index)
    bins = (at_edges.narrow(dim, 1, size) - at_edges.narrow(dim, 0, size)) * (size / n_in)
    return bins.to(torch.float32)


def _two_tap_area_axis(x: torch.Tensor, size: int, dim: int) -> torch.Tensor:
    """OpenCV's INTER_AREA coefficients when not every axis shrinks (two taps per output pixel)."""
    n_in = x.shape[dim]
    dst = torch.arange(size, dtype=torch.float64)
    src = torch.floor(dst * (n_in / size))
    frac = (dst + 1) - (src + 1) * (size / n_in)
    frac = torch.where(frac <= 0, torch.zeros_like(frac), frac - torch.floor(frac))
    first = src.long().clamp(0, n_in - 1).to(x.device)
    second = (src.long() + 1).clamp(0, n_in - 1).to(x.device)
    shape = [1] * x.dim()
    shape[dim] = size
    weight = frac.to(device=x.device, dtype=x.dtype).view(shape)
    return x.index_select(dim, first) * (1 - weight) + x.index_select(dim, second) * weight


def resize_image(frames: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """N×H×W×3 uint8 → N×height×width×3 uint8, as ``transforms.resize_image`` does it."""
    src_h, src_w = frames.shape[1], frames.shape[2]
    if (src_h, src_w) == (height, width):
        return frames
    x = frames.permute(0, 3, 1, 2).to(torch.float32)
    if width * height < src_w * src_h:  # OpenCV's INTER_AREA
        if height <= src_h and width <= src_w:
            x = _area_axis(_area_axis(x, height, 2), width, 3)
        else:  # one axis grows: OpenCV then uses its two-tap "area" coefficients on both axes
            x = _two_tap_area_axis(_two_tap_area_axis(x, height, 2), width, 3)
    else:
        x = _linear(x, height, width)
    return _round_u8(x).permute(0, 2, 3, 1).contiguous()


def _linear(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    if (x.shape[2], x.shape[3]) == (height, width):
        return x
    return F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False)


def fit(frames: torch.Tensor, height: int, width: int, mode: ResizeMode = "stretch") -> tuple[torch.Tensor, Geometry]:
    """Same-size BGR uint8 frames (N×H×W×3) → the model size, stretched or letterboxed, with the geometry."""
    g = fit_geometry(int(frames.shape[1]), int(frames.shape[2]), height, width, mode)
    if mode == "stretch":
        return resize_image(frames, height, width), g
    canvas = torch.full((frames.shape[0], height, width, 3), PAD_VALUE, dtype=torch.uint8, device=frames.device)
    canvas[:, g.y0 : g.y0 + g.content_height, g.x0 : g.x0 + g.content_width] = resize_image(
        frames, g.content_height, g.content_width
    )
    return canvas, g


def to_input(fitted: torch.Tensor, spec: InputSpec) -> torch.Tensor:
    """Fitted BGR uint8 frames (N×h×w×3) → the batch ``spec`` asks for, like ``transforms.to_input``."""
    batch = fitted.flip(-1) if spec.color == "RGB" else fitted
    if spec.dtype == "uint8":
        return (batch.permute(0, 3, 1, 2) if spec.layout == "NCHW" else batch).contiguous()
    mean = torch.tensor(spec.mean, dtype=torch.float32, device=fitted.device)
    std = torch.tensor(spec.std, dtype=torch.float32, device=fitted.device)
    if spec.color == "BGR":
        mean, std = mean.flip(0), std.flip(0)
    data = batch.to(torch.float32) * (1.0 / (255.0 * std)) + (-mean / std)
    if spec.layout == "NCHW":
        data = data.permute(0, 3, 1, 2)
    data = data.contiguous()
    return data.to(torch.float16) if spec.dtype == "float16" else data


def to_class_maps(output: torch.Tensor, spec: OutputSpec) -> torch.Tensor:
    """N×K×H×W logits or an N×H×W class map → N×H×W uint8 class map (argmax on the device)."""
    if spec.kind == "classmap":
        return output if output.dtype == torch.uint8 else output.to(torch.uint8)
    return output.argmax(dim=1).to(torch.uint8)


def restore_class_map(class_map: torch.Tensor, geometry: Geometry) -> torch.Tensor:
    """N×h×w class maps → N×H×W at the source size: crop the padding, nearest-exact resize."""
    g = geometry
    content = class_map[:, g.y0 : g.y0 + g.content_height, g.x0 : g.x0 + g.content_width]
    if (content.shape[1], content.shape[2]) == (g.src_height, g.src_width):
        return content.contiguous()
    rows = torch.from_numpy(_nearest_exact_index(g.content_height, g.src_height)).to(class_map.device)
    cols = torch.from_numpy(_nearest_exact_index(g.content_width, g.src_width)).to(class_map.device)
    return content.index_select(1, rows).index_select(2, cols)


@functools.lru_cache(maxsize=64)
def _nearest_exact_index(src: int, dst: int) -> np.ndarray:
    """Source index of each output pixel of OpenCV's INTER_NEAREST_EXACT, taken from OpenCV itself.

    OpenCV computes it in 16.16 fixed point with fast paths per ratio, which differ from the exact
    pixel-centre formula (and torch's ``nearest-exact``) on a few percent of pixels; resizing two
    uint8 ramps (index mod 256 and index // 256) through the same code path gives its indices exactly,
    so the GPU class map equals ``transforms.restore_class_map`` pixel for pixel.
    """
    ramp = np.arange(src)
    low, high = ((ramp % 256).astype(np.uint8)[None], (ramp // 256).astype(np.uint8)[None])
    resize = functools.partial(cv2.resize, dsize=(dst, 1), interpolation=cv2.INTER_NEAREST_EXACT)
    index: np.ndarray = (resize(high)[0].astype(np.int64) << 8) | resize(low)[0].astype(np.int64)
    return index


def restore_logits(logits: torch.Tensor, geometry: Geometry) -> torch.Tensor:
    """N×K×h×w logits → N×H×W class maps: bilinear upsampling of the logits, then argmax."""
    g = geometry
    content = logits[:, :, g.y0 : g.y0 + g.content_height, g.x0 : g.x0 + g.content_width].to(torch.float32)
    up = _linear(content, g.src_height, g.src_width)
    return up.argmax(dim=1).to(torch.uint8)


def palette_table(palette_rgb: Sequence[Sequence[int]], device: str | torch.device) -> torch.Tensor:
    """256×3 BGR lookup table; class ids without a colour map to black (as the render stage does)."""
    table = torch.zeros((256, 3), dtype=torch.uint8)
    colours = torch.tensor([list(c) for c in palette_rgb][:256], dtype=torch.uint8).reshape(-1, 3)
    table[: len(colours)] = colours.flip(-1)
    return table.to(device)


def colorize(class_map: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """N×H×W uint8 class map → N×H×W×3 BGR picture (``table`` from ``palette_table``)."""
    return table[class_map.long()]


def overlay(frames: torch.Tensor, class_map: torch.Tensor, table: torch.Tensor, alpha: float = 0.5) -> torch.Tensor:
    """Blend class colours over BGR frames: ``cv2.addWeighted(frame, 1 - alpha, colours, alpha, 0)``."""
    colours = colorize(class_map, table).to(torch.float32)
    return _round_u8(frames.to(torch.float32) * (1.0 - alpha) + colours * alpha)
