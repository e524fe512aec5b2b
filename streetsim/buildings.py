"""The back layer (outside the street corridor): buildings with their facades, hedges, ground patches.

Every object knows its ground footprint (for far-to-near ordering) and draws its image colours and
its labels with the same polygons.
"""

from __future__ import annotations

import cv2
import numpy as np

from streetsim.camera import SHIFT, Camera, ground_distance
from streetsim.canvas import Canvas
from streetsim.labels import BUILDING, VEGETATION
from streetsim.shade import Shade


class Building:
    __slots__ = ("x0", "x1", "z0", "z1", "h", "face_x", "side", "col", "wall_col", "detail", "nb", "ns",
                 "win_lit", "win_alt", "win_col", "trim_col", "radius")

    def __init__(self, side: int, face_x: float, depth: float, z0: float, z1: float, h: float, col,
                 wall_col, win: np.ndarray, win_lit: np.ndarray, shop: np.ndarray, bands: np.ndarray,
                 win_col, trim_col, win_alt: np.ndarray | None = None) -> None:
        self.side, self.face_x = side, face_x
        self.x0, self.x1 = (face_x, face_x + depth) if side > 0 else (face_x - depth, face_x)
        self.z0, self.z1, self.h = z0, z1, h
        self.col, self.wall_col, self.win_col, self.trim_col = col, wall_col, win_col, trim_col
        # ledges, shop windows and windows in one array: projected with one call per frame
        self.detail = np.concatenate([bands.reshape(-1, 4, 3), shop.reshape(-1, 4, 3), win.reshape(-1, 4, 3)])
        self.nb, self.ns = len(bands), len(shop)
        self.win_lit = np.asarray(win_lit, bool)
        self.win_alt = np.zeros(len(win), bool) if win_alt is None else np.asarray(win_alt, bool)
        self.radius = max(z1 - z0, h, depth)

    MIN_PX = 0.0

    def size(self) -> float:
        return self.h

    def key(self, cam: Camera) -> float:
        return ground_distance(cam, self.x0, self.x1, self.z0, self.z1)

    def in_view(self, cam: Camera) -> bool:
        return cam.in_view((self.x0 + self.x1) / 2, self.h / 2, (self.z0 + self.z1) / 2, self.radius)

    def draw(self, cv: Canvas, sh: Shade, d: float, night: bool) -> None:
        c = self.col
        cv.box(self.x0, self.x1, 0.0, self.h, self.z0, self.z1,
               (sh(c, d, 0.92), sh(c, d, 1.05), sh(self.wall_col, d, 0.75)), BUILDING)
        cam = cv.cam
        # the facade's details only when it faces the camera and is big enough to see
        if (cam.pos[0] - self.face_x) * self.side >= 0 or not len(self.detail):
            return
        ppm = cam.f / max(d, 1.0)
        if ppm < 3.0 * sh.px:  # a metre under 3 px: no detail
            return
        H = cam.hom(self.detail)
        ok = H[..., 2].min(axis=1) >= cam.near
        H[~ok, :, 2] = 1.0
        pts = cv._fixed(H)
        nb, ns = self.nb, self.ns
        img = cv.img
        if ppm > 6.0 * sh.px:
            if nb:
                _fill_array(img, pts[:nb][ok[:nb]], sh(self.trim_col, d, 0.85))
            if ns:
                _fill_array(img, pts[nb:nb + ns][ok[nb:nb + ns]], sh(self.win_col, d, 0.8))
        w = pts[nb + ns:]
        wok = ok[nb + ns:]
        if not len(w):
            return
        if night:
            _fill_array(img, w[wok & ~self.win_lit], sh(self.win_col, d, 0.6))
            _fill_array(img, w[wok & self.win_lit], sh.emit((120, 205, 245), d))
        else:
            alt = self.win_alt
            _fill_array(img, w[wok & ~alt], sh(self.win_col, d))
            _fill_array(img, w[wok & alt], sh(self.win_col, d, 1.45))


def _fill_array(img: np.ndarray, polys: np.ndarray, colour) -> None:
    """Fill K non-overlapping polygons given as one K×M×2 int32 array."""
    if len(polys):
        cv2.fillPoly(img, polys, colour, cv2.LINE_8, SHIFT)  # type: ignore[call-overload]


class Hedge:
    __slots__ = ("x0", "x1", "z0", "z1", "h", "col")

    def __init__(self, x0, x1, z0, z1, h, col) -> None:
        self.x0, self.x1, self.z0, self.z1, self.h, self.col = x0, x1, z0, z1, h, col

    MIN_PX = 1.5

    def size(self) -> float:
        return self.h

    def key(self, cam: Camera) -> float:
        return ground_distance(cam, self.x0, self.x1, self.z0, self.z1)

    def in_view(self, cam: Camera) -> bool:
        return cam.in_view((self.x0 + self.x1) / 2, self.h / 2, (self.z0 + self.z1) / 2, (self.z1 - self.z0) / 2 + 1)

    def draw(self, cv: Canvas, sh: Shade, d: float, night: bool) -> None:
        c = self.col
        cv.box(self.x0, self.x1, 0.0, self.h, self.z0, self.z1, (sh(c, d, 0.8), sh(c, d, 1.1), sh(c, d, 0.9)),
               VEGETATION)


class GroundPatch:
    """A flat quad on the ground (front gardens, forecourts) drawn before the back objects."""

    __slots__ = ("P", "col", "label")

    def __init__(self, x0, x1, z0, z1, y, col, label) -> None:
        self.P = np.array([[x0, y, z0], [x1, y, z0], [x1, y, z1], [x0, y, z1]], dtype=np.float64)
        self.col, self.label = col, label

    def draw(self, cv: Canvas, sh: Shade, d: float) -> None:
        cv.poly(self.P, sh(self.col, d), self.label)
