"""The sky behind a scene: gradient, clouds and an optional distant skyline, drawn once per scene."""

from __future__ import annotations

import cv2
import numpy as np

from streetsim.labels import BUILDING, SKY


def make_sky(rng: np.random.Generator, width: int, height: int, horizon_v: float, zenith, horizon, clouds: float,
             night: bool, skyline_col=None, px: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Sky image (gradient, clouds, optional distant skyline) and its labels.

    The smooth part is computed at a quarter of the size and enlarged (cheap and invisible).
    """
    sw, sh_ = max(4, width // 4), max(4, height // 4)
    v = (np.arange(sh_, dtype=np.float32) + 0.5) * (height / sh_)
    t = np.clip((horizon_v - v) / max(height * 0.7, 1.0), 0.0, 1.0) ** 0.7
    zen = np.asarray(zenith, np.float32)
    hor = np.asarray(horizon, np.float32)
    col = hor[None, :] * (1 - t[:, None]) + zen[None, :] * t[:, None]
    img = np.repeat(col[:, None, :], sw, axis=1)
    if clouds > 0.05:
        small = rng.random((max(2, height // 40), max(2, width // 40))).astype(np.float32)
        big = cv2.resize(small, (sw, sh_), interpolation=cv2.INTER_CUBIC)
        big = cv2.GaussianBlur(big, (0, 0), max(1.0, sw / 120))
        big = (big - big.min()) / max(float(big.max() - big.min()), 1e-6)
        m = np.clip((big - (1 - clouds)) * 3, 0, 1) * (0.25 + 0.75 * t[:, None])
        cloud_col = hor * 1.05 if not night else hor * 0.8
        img = img * (1 - m[..., None] * 0.8) + np.clip(cloud_col, 0, 255)[None, None, :] * (m[..., None] * 0.8)
    img = cv2.resize(np.clip(img, 0, 255).astype(np.uint8), (width, height), interpolation=cv2.INTER_LINEAR)
    lab = np.full((height, width), SKY, np.uint8)
    if skyline_col is not None:
        # distant blocks of buildings sitting on the horizon
        x = 0
        base = int(round(horizon_v + 12 * px))
        while x < width:
            w = int(rng.uniform(30, 110) * px) + 1
            if rng.random() < 0.8:
                h = int(rng.uniform(8, 60) * px)
                top = int(round(horizon_v)) - h
                c = tuple(float(np.clip(a + rng.uniform(-8, 8), 0, 255)) for a in skyline_col)
                cv2.rectangle(img, (x, top), (x + w - 1, base), c, -1)
                cv2.rectangle(lab, (x, top), (x + w - 1, base), BUILDING, -1)
                if night and h > 8 and w > 8:
                    for _ in range(int(w * h / (60 * px * px))):
                        wx = int(rng.uniform(x + 2, x + w - 3))
                        wy = int(rng.uniform(top + 2, horizon_v - 2))
                        cv2.rectangle(img, (wx, wy), (wx + max(1, int(2 * px)), wy + max(1, int(2 * px))),
                                      (110, 190, 230), -1)
            x += w
    return img, lab
