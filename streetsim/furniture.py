"""Street furniture: trees, street lamps and sign posts, drawn as billboards facing the camera.

Poles and sign plates too thin or small for a segmentation model to resolve are drawn but labelled
IGNORE (``labels.RESOLVABLE_PX``).
"""

from __future__ import annotations

import numpy as np

from streetsim.billboard import Billboard, circle_local
from streetsim.camera import Camera, ground_distance
from streetsim.canvas import Canvas
from streetsim.labels import IGNORE, POLE, RESOLVABLE_PX, SIGN, VEGETATION
from streetsim.shade import Shade


class Tree:
    __slots__ = ("x", "z", "y", "th", "r", "local", "cols", "trunk_col", "ncrown")

    def __init__(self, x, z, y, trunk_w, trunk_h, crowns, trunk_col) -> None:
        # crowns: list of (dx, dy, r, colour), drawn in order
        self.x, self.z, self.y = x, z, y
        self.th = trunk_h
        self.r = max(c[2] + abs(c[0]) for c in crowns)
        top = trunk_h + 0.3 * max(c[2] for c in crowns)
        tw = trunk_w
        parts = [np.array([[-tw / 2, 0], [tw / 2, 0], [tw * 0.35, top], [-tw * 0.35, top]])]
        parts += [circle_local(dx, trunk_h + dy, r, 12) for dx, dy, r, _ in crowns]
        self.local = np.concatenate(parts)
        self.cols = [c[3] for c in crowns]
        self.trunk_col = trunk_col
        self.ncrown = len(crowns)

    MIN_PX = 2.0

    def size(self) -> float:
        return self.r

    def key(self, cam: Camera) -> float:
        return ground_distance(cam, self.x, self.x, self.z, self.z)

    def in_view(self, cam: Camera) -> bool:
        return cam.in_view(self.x, self.th, self.z, self.r + 1.0)

    def draw(self, cv: Canvas, sh: Shade, d: float, night: bool) -> None:
        bb = Billboard(cv.cam, self.x, self.y, self.z, 1.0)
        if not bb.visible:
            return
        rpx = bb.ppm * self.r
        pts = bb.pts(self.local)
        trunk = pts[:4]
        polys = [trunk]
        cv.fill([trunk], sh(self.trunk_col, d))
        n = self.ncrown
        idx: tuple[int, ...] | range
        if rpx < 14 * sh.px and n > 2:
            idx = (0, n - 1)
        elif rpx < 40 * sh.px and n > 4:
            idx = (0, n // 3, (2 * n) // 3, n - 1)
        else:
            idx = range(n)
        for i in idx:
            p = pts[4 + 12 * i:16 + 12 * i]
            polys.append(p)
            cv.fill([p], sh(self.cols[i], d))
        cv.fill_label(polys, VEGETATION)


class Pole:
    """A street lamp (pole + arm + lamp head) or a plain pole."""

    __slots__ = ("x", "z", "y", "w", "h", "arm", "col", "side", "local", "world")

    def __init__(self, x, z, y, w, h, arm, col, side) -> None:
        self.x, self.z, self.y, self.w, self.h, self.arm, self.col, self.side = x, z, y, w, h, arm, col, side
        self.local = np.array([[-w / 2, 0], [w / 2, 0], [w * 0.4, h], [-w * 0.4, h],
                               [-w * 0.15, 0], [w * 0.1, 0], [w * 0.05, h], [-w * 0.12, h]])
        s = side
        t = max(0.16, w * 0.6)
        lx = x - s * arm
        top = y + h
        self.world = np.array([
            [[x, top - t, z], [lx, top - 0.05, z], [lx, top - 0.05 + t, z], [x, top, z]],  # arm
            [[lx - 0.35, top - 0.25, z], [lx + 0.35, top - 0.25, z], [lx + 0.35, top + 0.1, z], [lx - 0.35, top + 0.1, z]],
            [[lx - 0.28, top - 0.27, z], [lx + 0.28, top - 0.27, z], [lx + 0.28, top - 0.12, z], [lx - 0.28, top - 0.12, z]],
        ])

    MIN_PX = 0.8

    def size(self) -> float:
        return self.w

    def key(self, cam: Camera) -> float:
        return ground_distance(cam, self.x, self.x, self.z, self.z)

    def in_view(self, cam: Camera) -> bool:
        return cam.in_view(self.x - self.side * self.arm / 2, self.h / 2, self.z, self.h / 2 + self.arm)

    def draw(self, cv: Canvas, sh: Shade, d: float, night: bool) -> None:
        bb = Billboard(cv.cam, self.x, self.y, self.z, self.h)
        if not bb.visible:
            return
        label = POLE if bb.ppm * self.w >= RESOLVABLE_PX["pole_width"] * sh.px else IGNORE
        col = self.col
        pts = bb.pts(self.local)
        body = pts[:4]
        polys = [body]
        cv.fill([body], sh(col, d))
        if bb.ppm * self.w > 6:  # a highlight stripe: the pole is round
            cv.fill([pts[4:]], sh(col, d, 1.35))
        if self.arm > 0:
            H = cv.cam.hom(self.world)
            if H[..., 2].min() >= cv.cam.near:
                q = cv._fixed(H)
                polys += [q[0], q[1]]
                cv.fill([q[0]], sh(col, d, 0.9))
                cv.fill([q[1]], sh(col, d, 0.7))
                if night:
                    cv.fill([q[2]], sh.emit((170, 230, 255), d))
        cv.fill_label(polys, label)


def _sign_outline(shape: str, s: float) -> np.ndarray:
    r = s / 2
    if shape == "circle":
        return circle_local(0, 0, r, 12)
    if shape == "triangle":
        return np.array([[-r * 1.1, -r * 0.8], [r * 1.1, -r * 0.8], [0, r * 1.1]])
    if shape == "triangle_down":
        return np.array([[-r * 1.1, r * 0.8], [r * 1.1, r * 0.8], [0, -r * 1.1]])
    if shape == "square":
        return np.array([[-r, -r], [r, -r], [r, r], [-r, r]])
    if shape == "diamond":
        return np.array([[0, -r * 1.2], [r * 1.2, 0], [0, r * 1.2], [-r * 1.2, 0]])
    if shape == "octagon":
        a = np.linspace(0, 2 * np.pi, 8, endpoint=False) + np.pi / 8
        return np.stack([np.cos(a), np.sin(a)], 1) * r
    # rect: a wide direction sign
    return np.array([[-r * 1.6, -r * 0.75], [r * 1.6, -r * 0.75], [r * 1.6, r * 0.75], [-r * 1.6, r * 0.75]])


class SignPole:
    __slots__ = ("x", "z", "y", "w", "h", "plates", "col", "local", "slices")

    def __init__(self, x, z, y, w, h, plates, col) -> None:
        # plates: list of (shape, size, centre height, rim colour, inner colour, symbol colour)
        self.x, self.z, self.y, self.w, self.h, self.plates, self.col = x, z, y, w, h, plates, col
        parts = [np.array([[-w / 2, 0], [w / 2, 0], [w / 2, h], [-w / 2, h]])]
        self.slices = []
        n = 4
        for shape, size, cy, _rim, _inner, sym in plates:
            outline = _sign_outline(shape, size)
            k = len(outline)
            parts += [outline + (0, cy), outline * 0.72 + (0, cy)]
            sl = [(n, n + k), (n + k, n + 2 * k)]
            n += 2 * k
            if sym is not None:
                q = np.array([[-0.22, -0.08], [0.22, -0.08], [0.22, 0.08], [-0.22, 0.08]]) * size
                parts.append(q + (0, cy))
                sl.append((n, n + 4))
                n += 4
            self.slices.append(sl)
        self.local = np.concatenate(parts)

    MIN_PX = 2.0

    def size(self) -> float:
        return self.plates[0][1]

    def key(self, cam: Camera) -> float:
        return ground_distance(cam, self.x, self.x, self.z, self.z) - 0.05

    def in_view(self, cam: Camera) -> bool:
        return cam.in_view(self.x, self.h / 2, self.z, self.h / 2 + 1.0)

    def draw(self, cv: Canvas, sh: Shade, d: float, night: bool) -> None:
        bb = Billboard(cv.cam, self.x, self.y, self.z, self.h)
        if not bb.visible:
            return
        pts = bb.pts(self.local)
        cv.fill([pts[:4]], sh(self.col, d), POLE if bb.ppm * self.w >= RESOLVABLE_PX["pole_width"] * sh.px else IGNORE)
        for (_shape, size, _cy, rim, inner, sym), sl in zip(self.plates, self.slices, strict=True):
            big = bb.ppm * size >= RESOLVABLE_PX["sign_size"] * sh.px
            (a, b), (c, e) = sl[0], sl[1]
            cv.fill([pts[a:b]], sh(rim, d), SIGN if big else IGNORE)
            if bb.ppm * size > 10:
                cv.fill([pts[c:e]], sh(inner, d))
                if sym is not None:
                    f, g = sl[2]
                    cv.fill([pts[f:g]], sh(sym, d))
