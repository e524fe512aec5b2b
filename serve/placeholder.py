"""The picture a stream shows while its source is quiet: clearly not video, with what is known.

A dark frame, diagonal hatching, and three lines: the source, its state (``reconnecting``,
``finished`` ...), and the seconds since its last frame. Never the last frame itself, frozen: a
frozen picture looks like a live scene where nothing moves.
"""

from __future__ import annotations

import cv2
import numpy as np

_FONT = cv2.FONT_HERSHEY_SIMPLEX
MAX_SIDE = 1280  # a placeholder needs no more pixels than this


def draw_placeholder(size: tuple[int, int], source_id: str, state: str, since_s: float | None) -> np.ndarray:
    """A BGR picture of ``size`` (width, height; scaled down to at most ``MAX_SIDE``)."""
    width, height = max(64, int(size[0])), max(48, int(size[1]))
    scale = min(1.0, MAX_SIDE / max(width, height))
    width, height = int(width * scale), int(height * scale)
    canvas = np.full((height, width, 3), 32, dtype=np.uint8)
    step = max(16, width // 24)
    for x in range(-height, width, step):
        cv2.line(canvas, (x, height), (x + height, 0), (48, 48, 48), 2)
    since = "no frame yet" if since_s is None else f"no frame for {since_s:.1f} s"
    lines = [(f"{source_id}", 1.0), (state.upper(), 1.4), (since, 1.0)]
    text_scale = max(0.4, min(2.0, width / 900))
    y = height // 2 - int(60 * text_scale)
    for text, factor in lines:
        s = text_scale * factor
        thickness = max(1, round(2 * s))
        (w, h), _ = cv2.getTextSize(text, _FONT, s, thickness)
        cv2.putText(canvas, text, ((width - w) // 2, y + h), _FONT, s, (80, 200, 255), thickness, cv2.LINE_AA)
        y += h + int(30 * text_scale)
    return canvas
