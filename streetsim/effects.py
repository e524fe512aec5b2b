"""Camera effects on a drawn frame: headlight glow, rain, blur, sensor noise and JPEG re-compression.

Everything costly is precomputed once per scene (noise tiles, rain streaks, glow); a frame takes
seeded offsets into those tiles, so the per-frame cost is a few saturating adds.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np

PAD = 48  # tile margin for per-frame offsets


_NOISE: dict[tuple[int, int, int], tuple[np.ndarray, np.ndarray]] = {}
_NOISE_LEVELS = (2.0, 3.0, 4.5, 6.5, 9.0)
_GLOW: dict[tuple[int, int], np.ndarray] = {}
_LOCK = threading.Lock()  # scenes of several threads share these tiles


def _noise_tiles(width: int, height: int, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Positive and negative parts of a Gaussian noise tile; shared by all scenes of a size."""
    level = int(np.argmin([abs(sigma - s) for s in _NOISE_LEVELS]))
    key = (width, height, level)
    with _LOCK:
        return _NOISE.get(key) or _make_noise(key, level)


def _make_noise(key: tuple[int, int, int], level: int) -> tuple[np.ndarray, np.ndarray]:
    width, height = key[0], key[1]
    rng = np.random.default_rng(1000 + level)
    n = rng.standard_normal((height + PAD, width + PAD, 3), dtype=np.float32) * _NOISE_LEVELS[level]
    n = 0.6 * n + 0.4 * n.mean(axis=2, keepdims=True)  # mostly luminance noise
    tiles = (np.clip(n, 0, 255).astype(np.uint8), np.clip(-n, 0, 255).astype(np.uint8))
    if len(_NOISE) >= 6:
        _NOISE.pop(next(iter(_NOISE)))
    _NOISE[key] = tiles
    return tiles


def _glow(width: int, height: int) -> np.ndarray:
    with _LOCK:
        return _make_glow(width, height)


def _make_glow(width: int, height: int) -> np.ndarray:
    g = _GLOW.get((width, height))
    if g is None:
        sw, sh_ = max(4, width // 4), max(4, height // 4)
        v, u = np.mgrid[0:sh_, 0:sw].astype(np.float32)
        u = u * (width / sw)
        v = v * (height / sh_)
        e = np.exp(-(((u - width / 2) / (0.45 * width)) ** 2) - (((v - height) / (0.28 * height)) ** 2))
        small = np.clip(e[..., None] * np.array([45, 55, 60], np.float32), 0, 255).astype(np.uint8)
        g = cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)
        if len(_GLOW) >= 4:
            _GLOW.pop(next(iter(_GLOW)))
        _GLOW[(width, height)] = g
    return g


class Effects:
    """Per-scene precomputed layers and the per-frame post-processing."""

    def __init__(self, rng: np.random.Generator, width: int, height: int, noise: float, rain: float,
                 blur_p: float, jpeg_p: float, night: bool, headlight_glow: bool) -> None:
        self.width, self.height = width, height
        self.blur_p, self.jpeg_p = blur_p, jpeg_p
        th, tw = height + PAD, width + PAD
        self.noise_pos, self.noise_neg = _noise_tiles(width, height, noise)
        self.rain = None
        if rain > 0:
            layer = np.zeros((th * 2, tw), np.uint8)
            count = int(rain * width * height / 700)
            slant = rng.uniform(-0.25, 0.25)
            xs = rng.uniform(0, tw, count)
            ys = rng.uniform(0, th * 2, count)
            ls = rng.uniform(0.03, 0.08, count) * height
            bright = rng.uniform(25, 70, count)
            th_px = max(1, int(round(width / 1280)))
            for x, y, ln, b in zip(xs, ys, ls, bright, strict=True):
                cv2.line(layer, (int(x), int(y)), (int(x + slant * ln), int(y + ln)), float(b), th_px, cv2.LINE_AA)
            layer[th:] = np.maximum(layer[th:], layer[:th])  # wrap so scrolling is seamless
            layer[:th] = layer[th:]
            self.rain = cv2.merge([layer, layer, layer])
            self.rain_speed = height * rng.uniform(1.5, 3.0)  # pixels per second
        self.glow = _glow(width, height) if headlight_glow else None

    def apply(self, img: np.ndarray, rng: np.random.Generator, t: float) -> np.ndarray:
        h, w = self.height, self.width
        if self.glow is not None:
            cv2.add(img, self.glow, dst=img)
        if self.rain is not None:
            off = int(t * self.rain_speed) % (self.rain.shape[0] // 2)
            dx = int(t * 37) % PAD
            cv2.add(img, self.rain[off:off + h, dx:dx + w], dst=img)
        r = rng.random(6)
        if r[0] < self.blur_p:
            k = 3 if r[1] < 0.6 else 5
            img = cv2.GaussianBlur(img, (k, k), 0.5 + r[2] * (0.6 if k == 3 else 1.2))
        oy, ox = int(r[3] * PAD), int(r[4] * PAD)
        cv2.add(img, self.noise_pos[oy:oy + h, ox:ox + w], dst=img)
        oy2, ox2 = (oy + 17) % PAD, (ox + 29) % PAD
        cv2.subtract(img, self.noise_neg[oy2:oy2 + h, ox2:ox2 + w], dst=img)
        if r[5] < self.jpeg_p:
            q = int(25 + 60 * rng.random())
            ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, q])
            decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR) if ok else None
            if decoded is not None:
                img = decoded
        return img
