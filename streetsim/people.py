"""People: standing or walking, seen front-on or in profile, with a gait animated in t."""

from __future__ import annotations

import math

import cv2
import numpy as np

from streetsim.billboard import Billboard
from streetsim.camera import SHIFT, Camera, ground_distance
from streetsim.canvas import Canvas
from streetsim.labels import IGNORE, PERSON, RESOLVABLE_PX
from streetsim.shade import Shade

_C12 = [(math.cos(a), math.sin(a)) for a in np.linspace(0, 2 * np.pi, 12, endpoint=False)]


def _seg(out: list, x0: float, y0: float, x1: float, y1: float, w0: float, w1: float) -> None:
    dx, dy = x1 - x0, y1 - y0
    n = math.hypot(dx, dy) or 1.0
    px, py = -dy / n * 0.5, dx / n * 0.5
    out += ((x0 + px * w0, y0 + py * w0), (x1 + px * w1, y1 + py * w1), (x1 - px * w1, y1 - py * w1),
            (x0 - px * w0, y0 - py * w0))


def _ell(out: list, cx: float, cy: float, rx: float, ry: float) -> None:
    out += [(cx + c * rx, cy + s * ry) for c, s in _C12]


class Person:
    __slots__ = ("x", "z", "y", "h", "skin", "shirt", "pants", "hair", "dir", "swing", "phase", "bag")

    def __init__(self, x, z, y, h, skin, shirt, pants, hair, direction=(0.0, 1.0), swing=0.0, phase=0.0,
                 bag=None) -> None:
        self.x, self.z, self.y, self.h = x, z, y, h
        self.skin, self.shirt, self.pants, self.hair, self.bag = skin, shirt, pants, hair, bag
        self.dir = direction  # walking direction (dx, dz), unit
        self.swing, self.phase = swing, phase

    MIN_PX = 10.0

    def size(self) -> float:
        return self.h

    def key(self, cam: Camera) -> float:
        return ground_distance(cam, self.x, self.x, self.z, self.z)

    def in_view(self, cam: Camera) -> bool:
        return cam.in_view(self.x, self.h / 2, self.z, self.h / 2 + 0.3)

    def draw(self, cv: Canvas, sh: Shade, d: float, night: bool) -> None:
        cam = cv.cam
        bb = Billboard(cam, self.x, self.y, self.z, self.h)
        if not bb.visible:
            return
        h = self.h
        hpx = bb.ppm * h
        label = PERSON if hpx >= RESOLVABLE_PX["person_height"] * sh.px else IGNORE
        # how much of a profile we see: walking across the line of sight shows the legs' swing
        vx, vz = self.x - cam.pos[0], self.z - cam.pos[2]
        n = math.hypot(vx, vz) or 1.0
        prof = abs(self.dir[0] * vz - self.dir[1] * vx) / n
        s = math.sin(self.phase) * self.swing * prof
        hip = 0.52 * h
        leg = 0.52 * h
        sw = 0.25 * h * (1 - prof) + 0.15 * h * prof
        hw = 0.2 * h * (1 - prof) + 0.14 * h * prof
        P: list = []
        cols = []
        if hpx < 45 * sh.px:  # far: legs, torso, head
            fx = math.sin(s) * leg
            P += ((-hw / 2, hip), (hw / 2, hip), (0.06 * h + abs(fx), 0.0), (-0.06 * h - abs(fx), 0.0))
            P += ((-hw / 2, 0.49 * h), (hw / 2, 0.49 * h), (sw / 2, 0.815 * h), (-sw / 2, 0.815 * h))
            _ell(P, 0, 0.9 * h, 0.065 * h, 0.09 * h)
            pts = bb.pts(P)
            polys = [pts[:4], pts[4:8], pts[8:20]]
            cols = [self.pants, self.shirt, self.hair]
        else:
            fine = hpx >= 90 * sh.px  # shoes, hands, neck and bags only when they are a few pixels big
            for i in (-1, 1):  # legs and shoes
                hx = i * 0.05 * h * (1 - prof * 0.8)
                ang = i * s
                fx = hx + math.sin(ang) * leg + i * 0.01 * h
                fy = hip - math.cos(ang) * leg
                _seg(P, hx, hip, fx, fy, 0.095 * h, 0.065 * h)
                cols.append(self.pants)
                if fine:
                    _seg(P, fx - 0.02 * h, fy + 0.012 * h, fx + 0.03 * h, fy + 0.012 * h, 0.03 * h, 0.03 * h)
                    cols.append((30, 30, 35))
            P += ((-hw / 2, 0.49 * h), (hw / 2, 0.49 * h), (sw / 2, 0.815 * h), (-sw / 2, 0.815 * h))
            cols.append(self.shirt)
            if self.bag is not None and fine:
                bw = -0.13 * h * (1 - prof) - 0.05 * h
                P += ((bw, 0.55 * h), (0.0, 0.55 * h), (0.0, 0.78 * h), (bw, 0.78 * h))
                cols.append(self.bag)
            for i in (-1, 1):  # arms
                ax = i * (sw / 2 + 0.012 * h) * (1 - prof * 0.9)
                ang = -i * s * 0.8 + i * 0.1 * (1 - prof)
                ex = ax + math.sin(ang) * 0.37 * h
                ey = 0.8 * h - math.cos(ang) * 0.37 * h
                _seg(P, ax, 0.8 * h, ex, ey, 0.065 * h, 0.05 * h)
                cols.append(self.shirt)
                if fine:
                    _seg(P, ex, ey, ex + math.sin(ang) * 0.07 * h, ey - math.cos(ang) * 0.07 * h, 0.045 * h, 0.04 * h)
                    cols.append(self.skin)
            if fine:
                P += ((-0.025 * h, 0.81 * h), (0.025 * h, 0.81 * h), (0.025 * h, 0.86 * h), (-0.025 * h, 0.86 * h))
                cols.append(self.skin)
            nq = len(P) // 4
            _ell(P, 0, 0.915 * h, 0.058 * h, 0.068 * h)
            _ell(P, 0, 0.94 * h, 0.06 * h, 0.05 * h)
            cols += [self.skin, self.hair]
            pts = bb.pts(P)
            polys = [pts[4 * k:4 * k + 4] for k in range(nq)]
            polys += [pts[4 * nq:4 * nq + 12], pts[4 * nq + 12:4 * nq + 24]]
        lit: dict = {}
        img, lab = cv.img, cv.lab
        for p, c in zip(polys, cols, strict=True):
            v = lit.get(c)
            if v is None:
                v = lit[c] = sh(c, d)
            cv2.fillPoly(img, [p], v, cv2.LINE_8, SHIFT)
        for p in polys:
            cv2.fillPoly(lab, [p], label, cv2.LINE_8, SHIFT)
