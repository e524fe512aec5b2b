"""Vehicles: cars in four body styles, trucks with cab and cargo box, buses; wheels, glass and lights."""

from __future__ import annotations

import numpy as np

from streetsim.camera import Camera, ground_distance
from streetsim.canvas import Canvas
from streetsim.labels import BUS, CAR, IGNORE, RESOLVABLE_PX, TRUCK
from streetsim.shade import Shade

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
        return ground_distance(cam, self.x - self.W / 2, self.x + self.W / 2, self.z - self.L / 2, self.z + self.L / 2)

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
