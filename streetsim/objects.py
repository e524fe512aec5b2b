"""The things standing in a synthetic street and how each draws itself into a Canvas.

Every object knows its ground footprint (for far-to-near ordering) and draws its image colours
and its labels with the same polygons. Objects too small to be resolved by a segmentation model
(thin far poles, tiny far people) are drawn in the image but labelled 255 (ignore).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from streetsim.render import SHIFT, Billboard, Camera, Canvas, circle_local

# Cityscapes train IDs
ROAD, SIDEWALK, BUILDING, WALL, FENCE, POLE, LIGHT, SIGN, VEGETATION, TERRAIN, SKY = range(11)
PERSON, RIDER, CAR, TRUCK, BUS = 11, 12, 13, 14, 15
IGNORE = 255

# Smallest size, in pixels of a 1280-wide frame, at which an object is labelled as its class; smaller
# ones are drawn but labelled IGNORE. The bundled models see frames shrunk to 512×256, where one
# model pixel covers 2.5 × 2.8 of these pixels and the finest LR-ASPP features have a stride of 8
# model pixels: below these sizes (4 model pixels of pole, 6 of sign plate, 16 of person height,
# 8 of vehicle height) an object is not resolvable, and scoring it would measure the input size,
# not the model.
RESOLVABLE_PX = {"pole_width": 10.0, "sign_size": 15.0, "person_height": 45.0, "vehicle_height": 22.0}


class Shade:
    """Per-frame colour function: lighting, white balance and distance fog."""

    __slots__ = ("light", "wb", "fog_k", "fog", "head", "px", "sat")

    def __init__(self, light: float, wb, fog_k: float, fog, headlights: float, px_scale: float,
                 saturation: float = 1.0) -> None:
        self.sat = saturation  # the camera's colour response: < 1 washed out, > 1 vivid
        self.light = light
        self.wb = wb
        self.fog_k = fog_k
        self.fog = fog
        self.head = headlights  # extra light near the camera (night dashcam)
        self.px = px_scale  # pixels at this frame size per pixel at 1280 wide

    def __call__(self, c, d: float, k: float = 1.0):
        """Lit, fogged BGR for a surface of base colour ``c`` at distance ``d`` (``k`` = face factor)."""
        a = 1.0 - math.exp(-self.fog_k * d) if d > 0 else 0.0
        light = self.light
        if self.head:
            light += self.head * math.exp(-d / 18.0)
        m = light * k * (1.0 - a)
        wb, f, s = self.wb, self.fog, self.sat
        g = (c[0] + c[1] + c[2]) * (1.0 - s) / 3.0
        return ((g + s * c[0]) * wb[0] * m + f[0] * a, (g + s * c[1]) * wb[1] * m + f[1] * a,
                (g + s * c[2]) * wb[2] * m + f[2] * a)

    def emit(self, c, d: float):
        """An emissive colour (lamps, lit windows) seen through the fog."""
        a = 1.0 - math.exp(-self.fog_k * d) if d > 0 else 0.0
        f = self.fog
        b = 1.0 - a
        return (c[0] * b + f[0] * a, c[1] * b + f[1] * a, c[2] * b + f[2] * a)


def _dist(cam: Camera, x0: float, x1: float, z0: float, z1: float) -> float:
    p = cam.pos
    dx = x0 - p[0] if p[0] < x0 else (p[0] - x1 if p[0] > x1 else 0.0)
    dz = z0 - p[2] if p[2] < z0 else (p[2] - z1 if p[2] > z1 else 0.0)
    return math.hypot(dx, dz)


# ---------------------------------------------------------------------------------------------
# buildings and park things (the "back" layer: outside the street corridor)
# ---------------------------------------------------------------------------------------------
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
        return _dist(cam, self.x0, self.x1, self.z0, self.z1)

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
        return _dist(cam, self.x0, self.x1, self.z0, self.z1)

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


# ---------------------------------------------------------------------------------------------
# street furniture
# ---------------------------------------------------------------------------------------------
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
        return _dist(cam, self.x, self.x, self.z, self.z)

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
        return _dist(cam, self.x, self.x, self.z, self.z)

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


_SIGN_SHAPES = ("circle", "triangle", "triangle_down", "square", "diamond", "octagon", "rect")


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
        return _dist(cam, self.x, self.x, self.z, self.z) - 0.05

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


# ---------------------------------------------------------------------------------------------
# people
# ---------------------------------------------------------------------------------------------
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
        return _dist(cam, self.x, self.x, self.z, self.z)

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


# ---------------------------------------------------------------------------------------------
# vehicles
# ---------------------------------------------------------------------------------------------
# car body styles: (cabin start from the rear, cabin end from the front, belt line) as fractions
_CAR_STYLES = {"sedan": (0.18, 0.3, 0.5), "hatch": (0.05, 0.32, 0.5), "suv": (0.06, 0.27, 0.5),
               "van": (0.02, 0.17, 0.42)}


class Vehicle:
    """A car, truck or bus on the ground, front towards ``heading`` (+1: +Z, -1: -Z)."""

    __slots__ = ("kind", "x", "z", "heading", "L", "W", "H", "col", "col2", "label", "style")

    def __init__(self, kind: str, x, z, heading, L, W, H, col, col2=None, style: str = "sedan") -> None:
        self.kind, self.x, self.z, self.heading, self.style = kind, x, z, heading, style
        self.L, self.W, self.H, self.col = L, W, H, col
        self.col2 = col if col2 is None else col2
        self.label = {"car": CAR, "truck": TRUCK, "bus": BUS}[kind]

    MIN_PX = 4.0

    def size(self) -> float:
        return self.H

    def key(self, cam: Camera) -> float:
        return _dist(cam, self.x - self.W / 2, self.x + self.W / 2, self.z - self.L / 2, self.z + self.L / 2)

    def in_view(self, cam: Camera) -> bool:
        return cam.in_view(self.x, self.H / 2, self.z, self.L / 2 + 0.5)

    def _zr(self, a: float, b: float) -> tuple[float, float]:
        """Local z range (a..b, positive = front) → world z range."""
        if self.heading > 0:
            return self.z + a, self.z + b
        return self.z - b, self.z - a

    def draw(self, cv: Canvas, sh: Shade, d: float, night: bool) -> None:
        cam = cv.cam
        x, W, L, H = self.x, self.W, self.L, self.H
        lab = self.label
        ppm = cam.f / max(d, 0.5)
        hpx = ppm * H
        if hpx < RESOLVABLE_PX["vehicle_height"] * sh.px:
            lab = IGNORE
        col = self.col
        if hpx < 18 * sh.px:  # far away: a single box
            z0, z1 = self.z - L / 2, self.z + L / 2
            c = self.col2 if self.kind == "truck" else col
            cv.box(x - W / 2, x + W / 2, 0.2, H, z0, z1, (sh(c, d, 0.8), sh(c, d, 1.1), sh(col, d, 0.95)), lab)
            return
        detail = ppm > 14 * sh.px  # wheels, glass and lights only when they can be seen
        # shadow on the road
        sc = sh((18, 18, 20), d)
        z0, z1 = self.z - L / 2, self.z + L / 2
        cv.poly(np.array([[x - W / 2 - 0.15, 0.01, z0 - 0.2], [x + W / 2 + 0.15, 0.01, z0 - 0.2],
                          [x + W / 2 + 0.15, 0.01, z1 + 0.2], [x - W / 2 - 0.15, 0.01, z1 + 0.2]]), sc)
        near_side = 1 if cam.pos[0] > x else -1
        B: list = []
        C: list = []
        Lb: list = []
        T: list = []
        wheels = []
        if detail:
            r = 0.33 if self.kind == "car" else 0.5
            axles = (-(L / 2 - 0.8), L / 2 - 0.85) if self.kind == "car" else (-(L / 2 - 1.6), L / 2 - 1.4)
            wc = sh((25, 25, 28), d)
            wcs = (wc, wc, sh((35, 35, 38), d))
            for side in (-1, 1):
                xa = x + side * (W / 2 - 0.24)
                for a in axles:
                    za, zb = self._zr(a - r, a + r)
                    wheels.append((side, [xa - 0.11 + side * 0.1, xa + 0.11 + side * 0.1, 0.0, 2 * r, za, zb]))
            for side, b in wheels:
                if side != near_side:
                    B.append(b)
                    C.append(wcs)
                    Lb.append(lab)
                    T.append(True)
        faces = (sh(col, d, 0.8), sh(col, d, 1.1), sh(col, d, 0.95))
        glass = sh((75, 60, 50), d, 1.0)
        gl = (glass, glass, sh((70, 55, 45), d, 0.9))

        def add(box, cols, top=True, label=lab):
            B.append(box)
            C.append(cols)
            Lb.append(label)
            T.append(top)

        if self.kind == "car":
            rear, front, belt = _CAR_STYLES.get(self.style, _CAR_STYLES["sedan"])
            yb = belt * H + 0.08
            za, zb = self._zr(-L / 2, L / 2)
            add([x - W / 2, x + W / 2, 0.22, yb, za, zb], faces)
            ca, cb = self._zr(-L / 2 + rear * L, L / 2 - front * L)
            add([x - W / 2 + 0.1, x + W / 2 - 0.1, yb, H, ca, cb], faces)
            if detail:
                ga, gb = self._zr(-L / 2 + rear * L + 0.12, L / 2 - front * L - 0.12)
                add([x - W / 2 + 0.095, x + W / 2 - 0.095, yb + 0.07, H - 0.07, ga, gb], gl, False)
        elif self.kind == "truck":
            cab = 2.3
            za, zb = self._zr(-L / 2, L / 2)
            add([x - W / 2 + 0.05, x + W / 2 - 0.05, 0.45, 1.05, za, zb], (sh((40, 40, 42), d),) * 3)
            ca, cb = self._zr(L / 2 - cab, L / 2)
            hc = min(H - 0.3, 2.9)
            add([x - W / 2, x + W / 2, 0.6, hc, ca, cb], faces)
            ka, kb = self._zr(-L / 2, L / 2 - cab - 0.2)
            c2 = self.col2
            add([x - W / 2, x + W / 2, 1.0, H, ka, kb], (sh(c2, d, 0.85), sh(c2, d, 1.05), sh(c2, d, 0.95)))
            if detail:
                ga, gb = self._zr(L / 2 - cab + 0.25, L / 2 - 0.12)
                add([x - W / 2 - 0.005, x + W / 2 + 0.005, 1.75, hc - 0.15, ga, gb], gl, False)
        else:  # bus
            za, zb = self._zr(-L / 2, L / 2)
            add([x - W / 2, x + W / 2, 0.32, H, za, zb], faces)
            if detail:
                ga, gb = self._zr(-L / 2 + 0.25, L / 2 - 0.1)
                add([x - W / 2 - 0.005, x + W / 2 + 0.005, 1.25, H - 0.35, ga, gb], gl, False)
                add([x - W / 2 - 0.006, x + W / 2 + 0.006, 0.75, 1.05, za, zb], (sh(self.col2, d),) * 3, False)
        for side, b in wheels:
            if side == near_side:
                add(b, wcs)
        cv.boxes(B, C, Lb, T)
        if detail:
            self._lights(cv, sh, d, night)

    def _glass(self, cv: Canvas, x0, x1, y0, y1, z0, z1, cols) -> None:
        """Window band: the side and end faces of a slightly wider box, without its top."""
        cp = cv.cam.pos
        faces = []
        cs = []
        if cp[0] < x0:
            faces.append(((x0, y0, z0), (x0, y1, z0), (x0, y1, z1), (x0, y0, z1)))
            cs.append(cols[0])
        elif cp[0] > x1:
            faces.append(((x1, y0, z0), (x1, y1, z0), (x1, y1, z1), (x1, y0, z1)))
            cs.append(cols[0])
        if cp[2] < z0:
            faces.append(((x0 + 0.06, y0, z0), (x0 + 0.06, y1, z0), (x1 - 0.06, y1, z0), (x1 - 0.06, y0, z0)))
            cs.append(cols[2])
        elif cp[2] > z1:
            faces.append(((x0 + 0.06, y0, z1), (x0 + 0.06, y1, z1), (x1 - 0.06, y1, z1), (x1 - 0.06, y0, z1)))
            cs.append(cols[2])
        if faces:
            polys = cv.project_many(np.array(faces))
            for p, c in zip(polys, cs, strict=False):
                cv.fill([p], c)

    def _lights(self, cv: Canvas, sh: Shade, d: float, night: bool) -> None:
        cp = cv.cam.pos
        x, W, L = self.x, self.W, self.L
        front_z = self.z + self.heading * L / 2
        rear_z = self.z - self.heading * L / 2
        # which end faces the camera
        if (cp[2] - front_z) * self.heading > 0:
            zf, col, on = front_z + self.heading * 0.01, (200, 235, 245), (235, 250, 255)
        elif (cp[2] - rear_z) * self.heading < 0:
            zf, col, on = rear_z - self.heading * 0.01, (30, 30, 170), (60, 60, 255)
        else:
            return
        y0 = 0.55 if self.kind == "car" else 0.7
        y1 = y0 + (0.16 if self.kind == "car" else 0.22)
        lw = 0.3 if self.kind == "car" else 0.35
        quads = []
        for s in (-1, 1):
            xa = x + s * (W / 2 - 0.08)
            xb = x + s * (W / 2 - 0.08 - lw)
            quads.append(((xa, y0, zf), (xb, y0, zf), (xb, y1, zf), (xa, y1, zf)))
        polys = cv.project_many(np.array(quads, dtype=np.float64), clip=False)
        cv.fill(polys, sh.emit(on, d) if night else sh(col, d))
