"""Training-time augmentation: geometry applied to image AND mask together, colour to the image only.

``training_sample`` turns a full-size sample into what one training step sees, in this order:

1. **Joint geometry.** Pick a zoom ``s`` (log-uniform in ``scale``) and a window of the source of
   size ``(H/s, W/s)`` at a random position; a window larger than the source (``s < 1``) is padded
   with 0 in the image and 255 (ignore) in the mask. The window is then brought to the model size
   with ``engines.transforms.fit(..., "stretch")`` (the image: area averaging, exactly as at
   inference) and ``engines.transforms.resize_mask`` (the mask: nearest neighbour, so only valid
   class values and 255 ever appear). With ``s = 1`` the window is the whole frame and the result
   is bit-identical to inference preprocessing. A horizontal flip flips both.
   With ``crop`` set, a random window of that size is then cut from both (no resizing: pixels keep
   their inference scale, a step just sees fewer of them).
2. **Photometric, image only:** brightness, contrast, saturation, hue, blur, noise.

Normalisation is not done here: the trainer feeds the result to ``engines.transforms.to_input``,
the very function the pipeline uses.

Randomness comes only from the ``numpy.random.Generator`` passed in, so a (seed, step, slot)
triple reproduces a sample exactly, with any number of loader workers and after a resume.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from engines.transforms import PAD_VALUE, fit, resize_mask
from segcore.labels import IGNORE_INDEX
from training.config import AugmentSection


def crop_padded(array: np.ndarray, x0: int, y0: int, width: int, height: int, fill: int) -> np.ndarray:
    """The window [x0, x0+width) × [y0, y0+height) of ``array``; parts outside are ``fill``."""
    h, w = array.shape[:2]
    if x0 >= 0 and y0 >= 0 and x0 + width <= w and y0 + height <= h:
        return array[y0 : y0 + height, x0 : x0 + width]
    out = np.full((height, width, *array.shape[2:]), fill, dtype=array.dtype)
    sx0, sy0 = max(x0, 0), max(y0, 0)
    sx1, sy1 = min(x0 + width, w), min(y0 + height, h)
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = array[sy0:sy1, sx0:sx1]
    return out


def random_window(src_h: int, src_w: int, zoom: float, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """(x0, y0, width, height) of a window ``1/zoom`` the source's size at a random position."""
    win_w = max(1, round(src_w / zoom))
    win_h = max(1, round(src_h / zoom))
    x0 = int(rng.integers(min(0, src_w - win_w), max(0, src_w - win_w) + 1))
    y0 = int(rng.integers(min(0, src_h - win_h), max(0, src_h - win_h) + 1))
    return x0, y0, win_w, win_h


def geometric(
    image: np.ndarray,
    labels: np.ndarray,
    height: int,
    width: int,
    rng: np.random.Generator,
    scale: tuple[float, float] = (1.0, 1.0),
    hflip: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Joint random zoom/crop/flip of image and labels, then resize to ``height``×``width``."""
    if image.shape[:2] != labels.shape[:2]:
        raise ValueError(f"image {image.shape[:2]} and labels {labels.shape[:2]} differ in size")
    lo, hi = scale
    zoom = math.exp(rng.uniform(math.log(lo), math.log(hi))) if hi > lo else lo
    src_h, src_w = image.shape[:2]
    if zoom != 1.0:
        x0, y0, win_w, win_h = random_window(src_h, src_w, zoom, rng)
        image = crop_padded(image, x0, y0, win_w, win_h, PAD_VALUE)
        labels = crop_padded(labels, x0, y0, win_w, win_h, IGNORE_INDEX)
    image, _ = fit(image, height, width, "stretch")
    labels = resize_mask(labels, width, height)
    if hflip > 0 and rng.random() < hflip:
        image = image[:, ::-1]
        labels = labels[:, ::-1]
    return np.ascontiguousarray(image), np.ascontiguousarray(labels)


def photometric(image: np.ndarray, cfg: AugmentSection, rng: np.random.Generator) -> np.ndarray:
    """Colour jitter, blur and noise on a BGR uint8 image (random order is not worth its cost)."""
    out = image.astype(np.float32)
    if cfg.brightness or cfg.contrast:
        alpha = 1.0 + rng.uniform(-cfg.contrast, cfg.contrast)
        beta = 255.0 * rng.uniform(-cfg.brightness, cfg.brightness)
        mean = float(out.mean())
        out = (out - mean) * alpha + mean + beta
    if cfg.saturation:
        grey = out @ np.array([0.114, 0.587, 0.299], dtype=np.float32)  # BGR weights
        factor = 1.0 + rng.uniform(-cfg.saturation, cfg.saturation)
        out = grey[..., None] + (out - grey[..., None]) * factor
    out = np.clip(out, 0, 255)
    if cfg.noise and rng.random() < 0.5:
        out = out + rng.normal(0.0, cfg.noise, size=out.shape).astype(np.float32)
        out = np.clip(out, 0, 255)
    result = out.astype(np.uint8)
    if cfg.hue:
        shift = int(round(rng.uniform(-cfg.hue, cfg.hue) * 180))
        if shift:
            hsv = cv2.cvtColor(result, cv2.COLOR_BGR2HSV)
            hsv[..., 0] = ((hsv[..., 0].astype(np.int16) + shift) % 180).astype(np.uint8)
            result = np.asarray(cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR), dtype=np.uint8)
    if cfg.blur and rng.random() < cfg.blur:
        sigma = float(rng.uniform(0.3, 1.2))
        result = np.asarray(cv2.GaussianBlur(result, (0, 0), sigma), dtype=np.uint8)
    return result


def random_crop(
    image: np.ndarray, labels: np.ndarray, height: int, width: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """The same random ``height``×``width`` window of image and labels (no resizing)."""
    src_h, src_w = labels.shape[:2]
    if height > src_h or width > src_w:
        raise ValueError(f"augment.crop {height}x{width} is larger than the {src_h}x{src_w} sample")
    y0 = int(rng.integers(0, src_h - height + 1))
    x0 = int(rng.integers(0, src_w - width + 1))
    window = (slice(y0, y0 + height), slice(x0, x0 + width))
    return np.ascontiguousarray(image[window]), np.ascontiguousarray(labels[window])


def training_sample(
    image: np.ndarray,
    labels: np.ndarray,
    height: int,
    width: int,
    cfg: AugmentSection,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """A BGR uint8 image and uint8 labels of ``height``×``width`` (or ``cfg.crop`` of them), augmented
    per ``cfg``. The crop is taken after the zoom, so pixels keep the scale they have at inference;
    a fully convolutional network then learns on a fraction of the pixels per step."""
    if not cfg.enabled:
        return geometric(image, labels, height, width, rng)
    image, labels = geometric(image, labels, height, width, rng, cfg.scale, cfg.hflip)
    if cfg.crop is not None:
        image, labels = random_crop(image, labels, cfg.crop[0], cfg.crop[1], rng)
    return photometric(image, cfg, rng), labels
