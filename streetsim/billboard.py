"""Billboards: upright local 2-D frames facing the camera, for round or flat things (trees, poles, people)."""

from __future__ import annotations

import math

import numpy as np

from streetsim.camera import SCALE, Camera

# unit polygons for round shapes
_CIRCLE12 = np.stack([np.cos(np.linspace(0, 2 * np.pi, 12, endpoint=False)),
                      np.sin(np.linspace(0, 2 * np.pi, 12, endpoint=False))], 1)
_CIRCLE16 = np.stack([np.cos(np.linspace(0, 2 * np.pi, 16, endpoint=False)),
                      np.sin(np.linspace(0, 2 * np.pi, 16, endpoint=False))], 1)


class Billboard:
    """A local 2-D frame (metres, y up) standing upright at a world point, facing the camera.

    Maps local (a, b) to image pixels affinely: b along the projected vertical, a along the
    image-perpendicular of it at the depth of the foot point.
    """

    __slots__ = ("A", "off", "depth", "ppm")

    def __init__(self, cam: Camera, x: float, y: float, z: float, height: float) -> None:
        u0, v0, d = cam.point(x, y, z)
        self.depth = d
        self.ppm = 0.0
        if d < cam.near:
            return
        u1, v1, d1 = cam.point(x, y + height, z)
        if d1 < cam.near:
            return
        ppm = cam.f / d  # pixels per metre at this depth
        bx, by = (u1 - u0) / height, (v1 - v0) / height
        n = math.hypot(bx, by) or 1.0
        ax, ay = -by / n * ppm, bx / n * ppm  # perpendicular to the vertical
        if ax < 0:
            ax, ay = -ax, -ay
        self.A = np.array([[ax * SCALE, ay * SCALE], [bx * SCALE, by * SCALE]])
        self.off = np.array([u0 * SCALE, v0 * SCALE])
        self.ppm = ppm

    @property
    def visible(self) -> bool:
        return self.ppm > 0.0

    def pts(self, local) -> np.ndarray:
        """local (..., 2) metres → fixed-point int32 pixels."""
        return np.rint(np.asarray(local, dtype=np.float64) @ self.A + self.off).astype(np.int32)


def circle_local(cx: float, cy: float, r: float, n: int = 12, ry: float | None = None) -> np.ndarray:
    base = _CIRCLE12 if n == 12 else _CIRCLE16
    out = base * np.array([r, r if ry is None else ry])
    out += (cx, cy)
    return out
