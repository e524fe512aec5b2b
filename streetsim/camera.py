"""A pinhole camera in the street's world coordinates.

World coordinates: X to the right of the road's direction, Y up, Z along the road (metres).
Camera coordinates: x right, y down, z forward.
"""

from __future__ import annotations

import math

import numpy as np

SHIFT = 3  # fillPoly fixed-point bits: sub-pixel vertex positions, smooth motion
SCALE = float(1 << SHIFT)


class Camera:
    """A pinhole camera at ``pos`` turned by yaw (to the right), pitch (down) and roll."""

    __slots__ = ("pos", "R", "M", "f", "cx", "cy", "near", "width", "height", "tan_half")

    def __init__(self, pos, yaw: float, pitch: float, roll: float, f: float, width: int, height: int,
                 cx: float | None = None, cy: float | None = None, near: float = 0.35) -> None:
        cyw, syw = math.cos(yaw), math.sin(yaw)
        cp, sp = math.cos(pitch), math.sin(pitch)
        fwd = np.array([syw * cp, -sp, cyw * cp])
        right = np.array([cyw, 0.0, -syw])
        down = np.cross(right, fwd)
        cr, sr = math.cos(roll), math.sin(roll)
        r2 = cr * right + sr * down
        d2 = -sr * right + cr * down
        self.R = np.stack([r2, d2, fwd])
        self.pos = np.asarray(pos, dtype=np.float64)
        self.f = float(f)
        self.width, self.height = width, height
        self.cx = width / 2.0 if cx is None else cx
        self.cy = height / 2.0 if cy is None else cy
        self.near = near
        self.tan_half = (max(self.cx, width - self.cx) + 2) / self.f
        # world offset → homogeneous fixed-point pixels (u*z, v*z, z): K (with the fill shift) times R
        K = np.array([[self.f * SCALE, 0.0, self.cx * SCALE], [0.0, self.f * SCALE, self.cy * SCALE], [0, 0, 1.0]])
        self.M = (K @ self.R).T.copy()

    def hom(self, P: np.ndarray) -> np.ndarray:
        """World points (..., 3) → homogeneous fixed-point image coordinates (..., 3); [..., 2] is depth."""
        return (P - self.pos) @ self.M

    def in_view(self, x: float, y: float, z: float, radius: float) -> bool:
        """Cheap frustum test for a sphere (left/right/near only)."""
        R, p = self.R, self.pos
        dx, dy, dz = x - p[0], y - p[1], z - p[2]
        zc = R[2, 0] * dx + R[2, 1] * dy + R[2, 2] * dz
        if zc < -radius:
            return False
        xc = R[0, 0] * dx + R[0, 1] * dy + R[0, 2] * dz
        return abs(xc) <= max(zc, 0.0) * self.tan_half + radius * 1.5

    def point(self, x: float, y: float, z: float) -> tuple[float, float, float]:
        """(u, v, depth) of one world point in pixels; depth may be <= 0 (behind)."""
        R, p = self.R, self.pos
        dx, dy, dz = x - p[0], y - p[1], z - p[2]
        zc = R[2, 0] * dx + R[2, 1] * dy + R[2, 2] * dz
        if zc <= 1e-6:
            return 0.0, 0.0, zc
        xc = R[0, 0] * dx + R[0, 1] * dy + R[0, 2] * dz
        yc = R[1, 0] * dx + R[1, 1] * dy + R[1, 2] * dz
        return self.cx + self.f * xc / zc, self.cy + self.f * yc / zc, zc


def ground_distance(cam: Camera, x0: float, x1: float, z0: float, z1: float) -> float:
    """Distance on the ground from the camera to the rectangle x0..x1 × z0..z1 (0 inside it)."""
    p = cam.pos
    dx = x0 - p[0] if p[0] < x0 else (p[0] - x1 if p[0] > x1 else 0.0)
    dz = z0 - p[2] if p[2] < z0 else (p[2] - z1 if p[2] > z1 else 0.0)
    return math.hypot(dx, dz)
