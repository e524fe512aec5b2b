"""The world of one synthetic street scene, generated from its seed.

Everything is a pure function of (seed, time): the street's cross-section and appearance are
drawn once per seed; the buildings, furniture and parked cars of each 40 m block along the road
come from a generator seeded by (seed, side, block), so any stretch of street can be built in any
order; moving traffic and pedestrians are periodic *streams* whose positions are analytic in t.
Rendering frame k therefore never needs frames 0..k-1.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from streetsim.objects import (
    ROAD,
    SIDEWALK,
    TERRAIN,
    Building,
    GroundPatch,
    Hedge,
    Person,
    Pole,
    SignPole,
    Tree,
    Vehicle,
)

BLOCK = 40.0  # metres of street generated together
TABLE = 512  # slots per moving stream before its pattern repeats


def _jit(rng: np.random.Generator, c, amount: float):
    d = rng.uniform(-amount, amount, 3).tolist()
    return tuple(min(max(float(v) + e, 0.0), 255.0) for v, e in zip(c, d, strict=True))


def _pick(rng: np.random.Generator, options, p=None):
    if p is None:
        return options[int(rng.integers(len(options)))]
    k = int(np.searchsorted(np.cumsum(p), rng.random() * sum(p), side="right"))
    return options[min(k, len(options) - 1)]


# ---------------------------------------------------------------------------------------------
# appearance of the whole scene
# ---------------------------------------------------------------------------------------------
@dataclass
class Look:
    tod: str  # day | dusk | night
    weather: str  # clear | overcast | fog | rain
    light: float
    wb: tuple[float, float, float]
    fog_k: float
    fog: tuple[float, float, float]
    sky_zenith: tuple[float, float, float]
    sky_horizon: tuple[float, float, float]
    clouds: float
    noise: float  # sensor noise sigma (grey levels)
    blur_p: float
    jpeg_p: float
    rain: float
    skyline: bool
    saturation: float
    sun: tuple[float, float, float, float] | None = None  # shadow direction x, z; cot(elevation); darkness

    @property
    def night(self) -> bool:
        return self.tod == "night"


def make_look(rng: np.random.Generator) -> Look:
    tod = _pick(rng, ("day", "dusk", "night"), (0.55, 0.2, 0.25))
    weather = _pick(rng, ("clear", "overcast", "fog", "rain"), (0.45, 0.25, 0.15, 0.15))
    if tod == "day":
        light = rng.uniform(0.85, 1.15)
        wb = (rng.uniform(0.9, 1.12), rng.uniform(0.95, 1.05), rng.uniform(0.9, 1.1))
        zen = _jit(rng, (215, 150, 85), 25)
        hor = _jit(rng, (240, 220, 200), 15)
    elif tod == "dusk":
        light = rng.uniform(0.5, 0.75)
        wb = (rng.uniform(0.7, 0.9), rng.uniform(0.85, 1.0), rng.uniform(1.05, 1.25))
        zen = _jit(rng, (130, 80, 70), 25)
        hor = _jit(rng, (100, 160, 235), 25)
    else:
        light = rng.uniform(0.26, 0.42)
        wb = (rng.uniform(0.7, 1.1), rng.uniform(0.85, 1.0), rng.uniform(0.9, 1.3))
        zen = _jit(rng, (35, 20, 15), 10)
        hor = _jit(rng, (60, 60, 75), 20)
    fog_k = rng.uniform(1 / 900, 1 / 400)
    clouds = rng.uniform(0.0, 0.7)
    rain = 0.0
    if weather == "overcast":
        light *= 0.8
        g = rng.uniform(150, 215) * (light if tod != "day" else 1.0)
        zen = _jit(rng, (g + 8, g + 3, g), 6)
        hor = _jit(rng, (g + 25, g + 22, g + 20), 6)
        clouds = rng.uniform(0.3, 0.8)
    elif weather == "fog":
        light *= 0.85
        fog_k = rng.uniform(1 / 90, 1 / 30)
        clouds = 0.0
    elif weather == "rain":
        light *= 0.8
        fog_k = rng.uniform(1 / 250, 1 / 100)
        rain = rng.uniform(0.4, 1.0)
        g = rng.uniform(120, 180) * (0.35 if tod == "night" else (0.7 if tod == "dusk" else 1.0))
        zen = _jit(rng, (g + 5, g, g - 5), 5)
        hor = _jit(rng, (g + 20, g + 15, g + 12), 5)
        clouds = rng.uniform(0.3, 0.7)
    sun = None
    if weather == "clear" and tod != "night":
        az = rng.uniform(0, 2 * np.pi)
        elev = rng.uniform(0.4, 1.1) if tod == "day" else rng.uniform(0.15, 0.35)
        sun = (float(np.cos(az)), float(np.sin(az)), float(1 / np.tan(elev)), float(rng.uniform(0.45, 0.7)))
    fog = tuple(0.6 * h + 0.4 * z for h, z in zip(hor, zen, strict=True))
    if weather == "fog":
        zen = tuple(0.8 * f + 0.2 * z for f, z in zip(fog, zen, strict=True))
        hor = fog
    noise = rng.uniform(1.5, 5.0) * (2.0 if tod == "night" else 1.0)
    return Look(tod=tod, weather=weather, light=float(light), wb=(float(wb[0]), float(wb[1]), float(wb[2])),
                fog_k=float(fog_k), fog=(float(fog[0]), float(fog[1]), float(fog[2])), sky_zenith=zen, sky_horizon=hor, clouds=float(clouds),
                noise=float(noise), blur_p=float(rng.uniform(0.05, 0.4)), jpeg_p=float(rng.uniform(0.03, 0.15)),
                rain=float(rain), skyline=bool(rng.random() < 0.45 and weather != "fog"),
                saturation=float(rng.uniform(0.55, 1.3)), sun=sun)


# ---------------------------------------------------------------------------------------------
# colour families
# ---------------------------------------------------------------------------------------------
_CAR_COLOURS = ((235, 235, 235), (30, 30, 32), (185, 185, 180), (115, 115, 112), (40, 40, 170), (150, 75, 30),
                (95, 45, 25), (60, 110, 45), (40, 195, 225), (150, 180, 200), (40, 60, 90), (30, 115, 225),
                (80, 80, 85), (200, 200, 205))
_BUS_COLOURS = ((40, 40, 190), (30, 190, 230), (160, 90, 30), (220, 220, 220), (60, 140, 40), (40, 110, 230))
_CLOTHES = ((30, 30, 30), (60, 40, 30), (120, 60, 20), (40, 40, 140), (200, 200, 200), (60, 100, 60), (110, 110, 110),
            (40, 80, 160), (130, 40, 100), (30, 160, 200), (170, 130, 90), (90, 60, 50))
_SKIN = ((90, 120, 170), (120, 160, 210), (60, 90, 130), (140, 180, 225), (45, 65, 100))
_SIGNS = (  # (shape, rim, inner, symbol)
    ("circle", (30, 30, 200), (235, 235, 235), (30, 30, 30)),
    ("circle", (170, 90, 20), (175, 95, 25), (240, 240, 240)),
    ("triangle", (30, 30, 200), (235, 235, 235), (30, 30, 30)),
    ("triangle_down", (30, 30, 200), (235, 235, 235), None),
    ("square", (170, 90, 20), (175, 95, 25), (240, 240, 240)),
    ("diamond", (30, 30, 30), (30, 200, 240), None),
    ("octagon", (35, 35, 200), (35, 35, 200), (240, 240, 240)),
    ("rect", (60, 120, 20), (70, 130, 30), (240, 240, 240)),
    ("rect", (150, 80, 20), (160, 90, 25), (240, 240, 240)),
)


def _building_colour(rng: np.random.Generator):
    fam = int(rng.integers(0, 6))
    if fam == 0:  # concrete / render
        g = rng.uniform(110, 200)
        return _jit(rng, (g, g, g), 10)
    if fam == 1:  # brick
        return _jit(rng, (55, 75, 140), 20)
    if fam == 2:  # sandstone / beige
        return _jit(rng, (140, 175, 200), 20)
    if fam == 3:  # pastel
        hue = rng.uniform(0, 180)
        import cv2

        hsv = np.array([[[hue, rng.uniform(30, 90), rng.uniform(150, 230)]]], dtype=np.uint8)
        c = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0]
        return tuple(float(v) for v in c)
    if fam == 4:  # dark
        g = rng.uniform(45, 90)
        return _jit(rng, (g + 5, g, g), 8)
    return _jit(rng, (120, 110, 95), 25)  # glass-and-steel grey-blue


def _green(rng: np.random.Generator, terrain: bool = False):
    if terrain:
        fam = rng.random()
        if fam < 0.6:
            return _jit(rng, (55, 140, 100), 25)
        if fam < 0.85:
            return _jit(rng, (70, 150, 160), 20)  # dry grass
        return _jit(rng, (70, 100, 125), 15)  # earth
    if rng.random() < 0.85:
        return _jit(rng, (45, 110, 60), 25)
    return _jit(rng, (40, 110, 150), 20)  # autumn


# ---------------------------------------------------------------------------------------------
# the street's cross-section
# ---------------------------------------------------------------------------------------------
@dataclass
class Side:
    s: int  # -1 left, +1 right
    R: float  # road edge (kerb) distance from the centre line
    kerb: float  # kerb height
    verge: float  # grass strip between kerb and sidewalk (0 = none)
    walk: float  # sidewalk width
    parking: bool
    walk_col: tuple
    verge_col: tuple
    kerb_col: tuple

    @property
    def edge(self) -> float:
        return self.R + self.verge + self.walk


@dataclass
class Street:
    lanes: int
    lane_w: float
    sides: dict[int, Side]
    road_col: tuple
    mark_col: tuple
    centre_col: tuple
    centre_style: str  # dashed | solid | double
    edge_lines: bool
    dash: tuple[float, float]  # dash length, period
    crosswalk_every: int  # blocks (0: none)
    density_build: float
    density_tree: float
    density_people: float
    density_parked: float
    build_h: tuple[float, float]
    terrain_col: tuple
    lamp_spacing: float
    lamp_phase: dict[int, float]
    lamp_h: float
    lamp_w: float
    lamp_arm: float
    lamp_col: tuple
    tree_spacing: float
    cross_p: float = 0.0  # chance that a block starts with a side street
    streams: list = field(default_factory=list)


def make_street(rng: np.random.Generator) -> Street:
    theme = _pick(rng, ("urban", "suburban", "green"), (0.5, 0.35, 0.15))
    lanes = int(_pick(rng, (1, 1, 2)))
    lane_w = float(rng.uniform(3.0, 3.7))
    g = rng.uniform(55, 125)
    road_col = _jit(rng, (g + 3, g, g - 2), 6)
    walk_fam = rng.random()
    if walk_fam < 0.45:
        w = rng.uniform(130, 195)
        walk_col = _jit(rng, (w, w, w), 8)
    elif walk_fam < 0.75:
        walk_col = _jit(rng, (135, 160, 180), 20)
    else:
        walk_col = _jit(rng, (100, 110, 150), 20)
    terrain_col = _green(rng, terrain=True)
    sides = {}
    for s in (-1, 1):
        parking = bool(rng.random() < (0.6 if theme == "urban" else 0.4))
        R = lanes * lane_w + (2.2 if parking else 0.0)
        verge = 0.0 if rng.random() < (0.7 if theme == "urban" else 0.35) else float(rng.uniform(1.2, 3.5))
        sides[s] = Side(s=s, R=R, kerb=float(rng.uniform(0.1, 0.18)), verge=verge, walk=float(rng.uniform(2.0, 4.8)),
                        parking=parking, walk_col=_jit(rng, walk_col, 8), verge_col=_jit(rng, terrain_col, 10),
                        kerb_col=_jit(rng, (170, 170, 170), 25))
    dens = {"urban": (0.92, 0.3, 1.0), "suburban": (0.6, 0.7, 0.6), "green": (0.3, 1.0, 0.45)}[theme]
    hmin = {"urban": 9.0, "suburban": 6.0, "green": 5.0}[theme]
    hmax = {"urban": 32.0, "suburban": 14.0, "green": 12.0}[theme]
    arm = float(rng.uniform(1.0, 2.2)) if rng.random() < 0.75 else 0.0
    return Street(
        lanes=lanes, lane_w=lane_w, sides=sides, road_col=road_col,
        mark_col=_jit(rng, (225, 225, 225), 15), centre_col=(40, 190, 225) if rng.random() < 0.3 else (225, 225, 225),
        centre_style=_pick(rng, ("dashed", "solid", "double"), (0.55, 0.2, 0.25)), edge_lines=bool(rng.random() < 0.5),
        dash=(float(rng.uniform(2.0, 4.0)), float(rng.uniform(7.0, 12.0))),
        crosswalk_every=int(_pick(rng, (0, 2, 3, 5))),
        density_build=dens[0], density_tree=dens[1], density_people=float(dens[2] * rng.uniform(0.4, 1.3)),
        density_parked=float(rng.uniform(0.35, 0.85)), build_h=(hmin, hmax), terrain_col=terrain_col,
        lamp_spacing=float(rng.uniform(18, 32)), lamp_phase={-1: float(rng.uniform(0, 40)), 1: float(rng.uniform(0, 40))},
        lamp_h=float(rng.uniform(6.0, 9.0)), lamp_w=float(rng.uniform(0.26, 0.4)), lamp_arm=arm,
        lamp_col=_jit(rng, (120, 120, 118), 40) if rng.random() < 0.7 else _jit(rng, (50, 60, 45), 10),
        tree_spacing=float(rng.uniform(7, 14)),
        cross_p=0.0 if rng.random() < 0.3 else float(rng.uniform(0.15, 0.45)),
    )


# ---------------------------------------------------------------------------------------------
# moving things
# ---------------------------------------------------------------------------------------------
def _car_style(rng: np.random.Generator) -> tuple[str, tuple[float, float, float]]:
    style = _pick(rng, ("sedan", "hatch", "suv", "van"), (0.45, 0.25, 0.18, 0.12))
    if style == "van":
        return style, (float(rng.uniform(4.6, 5.3)), float(rng.uniform(1.85, 2.0)), float(rng.uniform(1.9, 2.3)))
    if style == "suv":
        return style, (float(rng.uniform(4.3, 4.9)), float(rng.uniform(1.8, 1.95)), float(rng.uniform(1.62, 1.85)))
    if style == "hatch":
        return style, (float(rng.uniform(3.7, 4.3)), float(rng.uniform(1.68, 1.8)), float(rng.uniform(1.42, 1.55)))
    return style, (float(rng.uniform(4.3, 4.9)), float(rng.uniform(1.72, 1.88)), float(rng.uniform(1.38, 1.5)))


_MISSING = object()


class _Slots:
    """Attributes of a stream's slots, generated on first use from (stream seed, slot)."""

    def __init__(self, seed: int, make) -> None:
        self.seed, self.make = seed, make
        self.cache: dict[int, tuple] = {}

    def __getitem__(self, k: int):
        v = self.cache.get(k, _MISSING)
        if v is _MISSING:
            v = self.make(np.random.default_rng([self.seed, k]))
            if len(self.cache) > 4096:
                self.cache.clear()
            self.cache[k] = v
        return v


class VehicleStream:
    """Vehicles in one lane: slot j sits at z = offset + dir*speed*t + j*gap + jitter_j."""

    def __init__(self, rng: np.random.Generator, x: float, direction: int, speed: float, gap: float,
                 presence: float, big: float, min_rel: float | None = None) -> None:
        self.x, self.dir, self.speed, self.gap = x, direction, speed, gap
        self.offset = float(rng.uniform(0, gap))
        self.min_rel = min_rel  # own lane: only slots that stay this far ahead of the camera
        self.presence, self.big = presence, big
        self.slots = _Slots(int(rng.integers(1 << 62)), self._make)

    def _make(self, rng: np.random.Generator):
        if rng.random() >= self.presence:
            return None
        jitter = float(rng.uniform(-0.2, 0.2)) * self.gap
        r = rng.random()
        if r < self.big * 0.5:
            dims = (float(rng.uniform(6.5, 9.5)), float(rng.uniform(2.3, 2.5)), float(rng.uniform(3.0, 3.8)))
            c1 = _jit(rng, _pick(rng, _CAR_COLOURS), 15)
            c2 = _jit(rng, _pick(rng, ((230, 230, 230), (200, 200, 205), (60, 60, 150), (150, 90, 40), (40, 110, 40))), 15)
            return "truck", jitter, dims, c1, c2, ""
        if r < self.big:
            dims = (float(rng.uniform(10.0, 12.5)), float(rng.uniform(2.45, 2.55)), float(rng.uniform(3.0, 3.4)))
            return "bus", jitter, dims, _jit(rng, _pick(rng, _BUS_COLOURS), 15), _jit(rng, _pick(rng, _BUS_COLOURS), 15), ""
        style, dims = _car_style(rng)
        c = _jit(rng, _pick(rng, _CAR_COLOURS), 18)
        return "car", jitter, dims, c, c, style

    def items(self, t: float, zmin: float, zmax: float, cam_base: float = 0.0):
        base = self.offset + self.dir * self.speed * t
        g = self.gap
        j0 = math.floor((zmin - base) / g) - 1
        j1 = math.ceil((zmax - base) / g) + 1
        out = []
        for j in range(j0, j1 + 1):
            a = self.slots[j % TABLE]
            if a is None:
                continue
            kind, jitter, (L, W, H), c1, c2, style = a
            z = base + j * g + jitter
            if not zmin <= z <= zmax:
                continue
            if self.min_rel is not None and (self.offset + j * g + jitter - cam_base) < self.min_rel:
                continue
            out.append(Vehicle(kind, self.x, z, self.dir, L, W, H, c1, c2, style))
        return out


def _person_attrs(rng: np.random.Generator):
    child = rng.random() < 0.07
    h = float(rng.uniform(1.15, 1.45) if child else rng.uniform(1.55, 1.95))
    return dict(h=h, skin=_jit(rng, _pick(rng, _SKIN), 10), shirt=_jit(rng, _pick(rng, _CLOTHES), 20),
                pants=_jit(rng, _pick(rng, _CLOTHES[:8]), 15),
                hair=_jit(rng, _pick(rng, ((20, 20, 25), (30, 50, 80), (60, 110, 160), (150, 150, 150))), 10),
                bag=_jit(rng, _pick(rng, _CLOTHES), 10) if rng.random() < 0.3 else None)


class PedStream:
    """Pedestrians walking along a sidewalk line at x, in direction dir (+1/-1 along Z)."""

    def __init__(self, rng: np.random.Generator, x: float, y: float, direction: int, gap: float, presence: float) -> None:
        self.x, self.y, self.dir, self.gap = x, y, direction, gap
        self.offset = float(rng.uniform(0, gap))
        self.presence = presence
        self.slots = _Slots(int(rng.integers(1 << 62)), self._make)

    def _make(self, rng: np.random.Generator):
        if rng.random() >= self.presence:
            return None
        return (float(rng.uniform(-0.3, 0.3)) * self.gap, float(rng.uniform(0.9, 1.7)), float(rng.uniform(-0.25, 0.25)),
                float(rng.uniform(0, 2 * np.pi)), _person_attrs(rng))

    def items(self, t: float, zmin: float, zmax: float):
        # slots move at 1.3 m/s on average; each wobbles within a quarter gap around its nominal place
        base = self.offset + self.dir * 1.3 * t
        g = self.gap
        j0 = math.floor((zmin - base) / g) - 2
        j1 = math.ceil((zmax - base) / g) + 2
        out = []
        for j in range(j0, j1 + 1):
            a = self.slots[j % TABLE]
            if a is None:
                continue
            jitter, v, dx, phase0, at = a
            drift = 0.25 * g * math.sin((v - 1.3) * t / (0.25 * g))
            z = base + j * g + jitter + self.dir * drift
            if not zmin <= z <= zmax:
                continue
            stride = 0.75 * at["h"] / 1.75
            phase = phase0 + math.pi * (1.3 * t + drift) / stride
            out.append(Person(self.x + dx, z, self.y, at["h"], at["skin"], at["shirt"], at["pants"], at["hair"],
                              (0.0, float(self.dir)), 0.42, phase, at["bag"]))
        return out


def make_streams(rng: np.random.Generator, st: Street, own_lane: int | None, cam_speed: float,
                 cam_base: float, cam_amp: float) -> list:
    streams: list = []
    lw = st.lane_w
    for i in range(st.lanes):
        x = (i + 0.5) * lw
        if own_lane is not None and i == own_lane:
            streams.append(VehicleStream(rng, x, 1, cam_speed, float(rng.uniform(18, 45)), float(rng.uniform(0.5, 0.9)),
                                         0.25, min_rel=8.0 + 2 * cam_amp))
        else:
            sp = cam_speed + rng.uniform(-4, 3) if own_lane is not None else rng.uniform(5, 13)
            streams.append(VehicleStream(rng, x, 1, max(2.0, sp), float(rng.uniform(12, 40)),
                                         float(rng.uniform(0.35, 0.85)), 0.3))
        streams.append(VehicleStream(rng, -x, -1, float(rng.uniform(6, 14)), float(rng.uniform(12, 40)),
                                     float(rng.uniform(0.35, 0.85)), 0.3))
    for s, side in st.sides.items():
        x0 = s * (side.R + side.verge)
        # two walking lines, clear of the kerb-side lamps, signs and tree trunks (people sway ±0.25 m)
        inner = min(side.walk * 0.5 + 0.4, side.walk - 0.5) if side.verge == 0 else side.walk * 0.35
        for off, d in ((inner, 1), (side.walk * 0.82, -1)):
            gap = float(rng.uniform(4, 12)) / max(st.density_people, 0.2)
            streams.append(PedStream(rng, x0 + s * off, side.kerb, d if rng.random() < 0.5 else -d,
                                     gap, float(rng.uniform(0.5, 0.95))))
    return streams


# ---------------------------------------------------------------------------------------------
# static things, block by block
# ---------------------------------------------------------------------------------------------
def _windows(rng: np.random.Generator, side: int, fx: float, z0: float, z1: float, h: float, shop: bool):
    """Window, shopfront and ledge quads (world) on a facade at x = fx facing the street."""
    x = fx - side * 0.03
    cs = rng.uniform(2.2, 4.0)
    fh = rng.uniform(2.9, 3.6)
    ww = cs * rng.uniform(0.35, 0.7)
    wh = fh * rng.uniform(0.4, 0.62)
    length = z1 - z0
    ncol = int((length - 1.0) // cs)
    g0 = 3.6 if shop else 0.9
    nrow = int((h - g0 - 0.8) // fh)
    wins = np.zeros((0, 4, 3))
    lit = np.zeros(0, bool)
    if ncol > 0 and nrow > 0:
        zs = z0 + (length - ncol * cs) / 2 + np.arange(ncol) * cs + (cs - ww) / 2
        ys = g0 + np.arange(nrow) * fh + (fh - wh) / 2
        Z, Y = np.meshgrid(zs, ys)
        Z, Y = Z.ravel(), Y.ravel()
        wins = np.stack([np.stack([np.full_like(Z, x), Y, Z], 1), np.stack([np.full_like(Z, x), Y + wh, Z], 1),
                         np.stack([np.full_like(Z, x), Y + wh, Z + ww], 1), np.stack([np.full_like(Z, x), Y, Z + ww], 1)], 1)
        lit = rng.random(len(Z)) < rng.uniform(0.2, 0.6)
    shops = np.zeros((0, 4, 3))
    if shop and length > 4:
        n = max(1, int(length // rng.uniform(4, 7)))
        seg = length / n
        q = []
        for i in range(n):
            a = z0 + i * seg + 0.5
            b = z0 + (i + 1) * seg - 0.5
            q.append(((x, 0.35, a), (x, 2.7, a), (x, 2.7, b), (x, 0.35, b)))
        shops = np.array(q, dtype=np.float64)
    bands = np.zeros((0, 4, 3))
    if rng.random() < 0.6 and nrow > 0:
        ys = g0 + np.arange(1, nrow + 1) * fh - 0.1
        q = [((x - side * 0.005, y, z0), (x - side * 0.005, y + 0.22, z0), (x - side * 0.005, y + 0.22, z1),
              (x - side * 0.005, y, z1)) for y in ys if y + 0.3 < h]
        if shop:
            q.append(((x - side * 0.005, 2.9, z0), (x - side * 0.005, 3.4, z0), (x - side * 0.005, 3.4, z1),
                      (x - side * 0.005, 2.9, z1)))
        if q:
            bands = np.array(q, dtype=np.float64)
    return wins, lit, shops, bands


def _tree(rng: np.random.Generator, st: Street, x: float, z: float, y: float, big: float = 1.0) -> Tree:
    r = rng.uniform(1.3, 2.6) * big
    th = rng.uniform(2.2, 4.0) * big
    base = _green(rng)
    n = int(rng.integers(4, 8))
    u = rng.random((n, 6))
    dx = (u[:, 0] * 1.2 - 0.6) * r
    dy = (u[:, 1] * 1.2 + 0.2) * r
    rr = (u[:, 2] * 0.3 + 0.45) * r
    cols = np.clip(np.asarray(base)[None, :] + (u[:, 3:6] * 36 - 18), 0, 255)
    order = np.argsort(dy, kind="stable")
    crowns = [(float(dx[i]), float(dy[i]), float(rr[i]), tuple(cols[i].tolist())) for i in order]
    return Tree(x, z, y, float(rng.uniform(0.22, 0.45) * big), th, crowns, _jit(rng, (45, 65, 85), 15))


def _plates(rng: np.random.Generator, pole_h: float):
    n = 1 if rng.random() < 0.75 else 2
    out = []
    y = pole_h - 0.1
    for _ in range(n):
        shape, rim, inner, sym = _SIGNS[int(rng.integers(0, len(_SIGNS)))]
        size = float(rng.uniform(0.8, 1.15))
        half = size * (0.75 if shape == "rect" else (0.6 if shape in ("triangle", "triangle_down", "diamond") else 0.5))
        cy = y - half
        out.append((shape, size, cy, _jit(rng, rim, 10), _jit(rng, inner, 10), sym))
        y = cy - half - 0.1
    return out


@dataclass
class BlockContent:
    ground: list  # GroundPatch
    back: list  # buildings, park trees and hedges (outside the corridor)
    street: list  # static things inside the corridor
    decals: list = field(default_factory=list)  # (quads K×M×3, colour, near_only): paint on the ground


def _decals(rng: np.random.Generator, st: Street, s: int, za: float, zb: float) -> list:
    """Asphalt patches, manhole covers, cracks (from the right-side block) and paving joints."""
    out = []
    side = st.sides[s]
    if s > 0:
        xl, xr = -st.sides[-1].R, st.sides[1].R
        quads = []
        for _ in range(int(rng.poisson(1.2))):
            w, ln = rng.uniform(0.8, 3.5), rng.uniform(1.0, 7.0)
            x0 = rng.uniform(xl, xr - w)
            z0 = rng.uniform(za, zb - ln)
            quads.append(((x0, 0.003, z0), (x0 + w, 0.003, z0), (x0 + w, 0.003, z0 + ln), (x0, 0.003, z0 + ln)))
        if quads:
            k = rng.uniform(0.72, 1.25)
            out.append((np.array(quads), tuple(min(c * k, 255.0) for c in st.road_col), False))
        cracks = []
        for _ in range(int(rng.poisson(2.0))):
            x0, z0 = rng.uniform(xl, xr), rng.uniform(za, zb - 3)
            for _ in range(int(rng.integers(2, 5))):
                x1, z1 = x0 + rng.uniform(-0.6, 0.6), z0 + rng.uniform(0.3, 1.2)
                cracks.append(((x0 - 0.03, 0.004, z0), (x0 + 0.03, 0.004, z0), (x1 + 0.03, 0.004, z1), (x1 - 0.03, 0.004, z1)))
                x0, z0 = x1, z1
        if cracks:
            out.append((np.array(cracks), tuple(c * 0.55 for c in st.road_col), True))
        holes = []
        for _ in range(int(rng.poisson(0.6))):
            cx, cz, r = rng.uniform(xl + 1, xr - 1), rng.uniform(za, zb), 0.35
            a = np.linspace(0, 2 * np.pi, 8, endpoint=False)
            holes.append(np.stack([cx + r * np.cos(a), np.full(8, 0.004), cz + r * np.sin(a)], 1))
        if holes:
            out.append((np.array(holes), (45.0, 45.0, 48.0), False))
    # paving joints across the sidewalk
    tile = rng.uniform(0.8, 2.2)
    x0, x1 = sorted((s * (side.R + side.verge), s * side.edge))
    zs = np.arange(math.ceil(za / tile) * tile, zb, tile)
    if len(zs):
        y = side.kerb + 0.003
        q = np.empty((len(zs), 4, 3))
        q[:, :, 1] = y
        q[:, 0, 0] = q[:, 3, 0] = x0
        q[:, 1, 0] = q[:, 2, 0] = x1
        q[:, 0, 2] = q[:, 1, 2] = zs
        q[:, 2, 2] = q[:, 3, 2] = zs + 0.05
        out.append((q, tuple(c * 0.78 for c in side.walk_col), True))
    return out


CROSS_WALK = 3.0  # sidewalk width along a side street


def crossing(seed: int, st: Street, b: int) -> tuple[float, float, tuple[int, ...]] | None:
    """The side street at the start of block b: (z0, z1, sides it opens to), or None."""
    if st.cross_p <= 0:
        return None
    rng = np.random.default_rng([seed & 0xFFFFFFFF, 4242, b + (1 << 31)])
    if rng.random() >= st.cross_p:
        return None
    z0 = b * BLOCK + 5.0
    z1 = z0 + float(rng.uniform(7.0, 11.0))
    sides = _pick(rng, ((-1, 1), (1,), (-1,)), (0.6, 0.2, 0.2))
    return z0, z1, sides


def make_block(seed: int, st: Street, s: int, b: int) -> BlockContent:
    rng = np.random.default_rng([seed & 0xFFFFFFFF, 7 + s, b + (1 << 31)])
    side = st.sides[s]
    za, zb = b * BLOCK, (b + 1) * BLOCK
    edge = side.edge
    ground: list = []
    back: list = []
    street: list = []
    cross = crossing(seed, st, b)
    free_from = za  # lots and furniture keep clear of a side street
    if cross is not None and s in cross[2]:
        free_from = cross[1] + CROSS_WALK + 0.5
        blocked = (cross[0] - 1.5, free_from)
    else:
        blocked = (za - 1.0, za - 1.0)

    def clear(z: float) -> bool:
        return not blocked[0] <= z <= blocked[1]

    # lots along the block
    z = free_from
    while z < zb - 5:
        length = float(rng.uniform(12, 32))
        z1 = min(z + length, zb)
        if zb - z1 < 6:
            z1 = zb
        if rng.random() < st.density_build:
            setback = 0.0 if rng.random() < 0.6 else float(rng.uniform(0.5, 6.0))
            fx = s * (edge + setback)
            h = float(rng.uniform(*st.build_h))
            col = _building_colour(rng)
            shop = bool(rng.random() < 0.45 and setback < 1.0)
            wins, lit, shops, bands = _windows(rng, s, fx, z, z1, h, shop)
            wincol = _jit(rng, _pick(rng, ((70, 55, 45), (100, 85, 70), (50, 45, 40), (140, 120, 100))), 15)
            back.append(Building(s, fx, float(rng.uniform(10, 25)), z, z1, h, col, _jit(rng, col, 15), wins, lit,
                                 shops, bands, wincol, _jit(rng, col, 30), rng.random(len(lit)) < rng.uniform(0, 0.4)))
            if setback > 0.3:
                garden = rng.random() < 0.5
                ground.append(GroundPatch(s * edge, fx, z, z1, side.kerb if not garden else 0.02,
                                          side.verge_col if garden else _jit(rng, side.walk_col, 10),
                                          TERRAIN if garden else SIDEWALK))
                if garden and setback > 2 and rng.random() < 0.5:
                    x0, x1 = sorted((s * (edge + 0.2), s * (edge + 0.9)))
                    back.append(Hedge(x0, x1, z + 0.3, z1 - 0.3, float(rng.uniform(0.6, 1.3)), _green(rng)))
        else:  # a park or garden: hedge, trees and maybe a building far back
            if rng.random() < 0.5:
                x0, x1 = sorted((s * (edge + 0.3), s * (edge + 1.2)))
                back.append(Hedge(x0, x1, z + 0.5, z1 - 0.5, float(rng.uniform(0.7, 1.6)), _green(rng)))
            for _ in range(int(rng.integers(1, 3))):
                back.append(_tree(rng, st, s * (edge + rng.uniform(2.5, 12)), float(rng.uniform(z, z1)), 0.0, 1.4))
            if rng.random() < 0.5:
                fx = s * (edge + rng.uniform(14, 30))
                h = float(rng.uniform(*st.build_h))
                col = _building_colour(rng)
                wins, lit, shops, bands = _windows(rng, s, fx, z, z1, h, False)
                back.append(Building(s, fx, 15.0, z, z1, h, col, col, wins, lit, shops, bands,
                                     _jit(rng, (70, 55, 45), 20), col))
        z = z1 + (0.0 if rng.random() < 0.7 else float(rng.uniform(1.0, 4.0)))
    # furniture at the kerb
    kx = s * (side.R + (side.verge / 2 if side.verge > 0 else 0.45))
    ky = side.kerb
    taken: list[float] = []
    sp, ph = st.lamp_spacing, st.lamp_phase[s]
    k0 = math.ceil((za - ph) / sp)
    while ph + k0 * sp < zb:
        zl = ph + k0 * sp
        if clear(zl):
            street.append(Pole(kx, zl, ky, st.lamp_w, st.lamp_h, st.lamp_arm, st.lamp_col, s))
            taken.append(zl)
        k0 += 1
    for zl in list(taken):  # signs on lamp posts
        if rng.random() < 0.3:
            h = float(rng.uniform(2.8, 3.4))
            street.append(SignPole(kx, zl, ky, st.lamp_w * 0.85, h, _plates(rng, h), st.lamp_col))
    for _ in range(int(rng.poisson(1.6))):
        zs = float(rng.uniform(za, zb))
        if any(abs(zs - q) < 2.0 for q in taken) or not clear(zs):
            continue
        h = float(rng.uniform(2.4, 3.3))
        street.append(SignPole(kx + s * rng.uniform(-0.1, 0.2), zs, ky, float(rng.uniform(0.14, 0.2)), h,
                               _plates(rng, h), _jit(rng, (140, 140, 140), 30)))
        taken.append(zs)
    if st.density_tree > 0:
        tx = s * (side.R + (side.verge / 2 if side.verge > 0 else 1.0))
        n = int(BLOCK // st.tree_spacing)
        for i in range(n):
            if rng.random() > st.density_tree:
                continue
            zt = za + (i + 0.5) * BLOCK / n + float(rng.uniform(-1, 1))
            if any(abs(zt - q) < 2.0 for q in taken) or not clear(zt):
                continue
            street.append(_tree(rng, st, tx, zt, ky))
            taken.append(zt)
    if side.parking:
        n = int(BLOCK // 6.0)
        for i in range(n):
            if rng.random() > st.density_parked:
                continue
            zc = za + (i + 0.5) * BLOCK / n + float(rng.uniform(-0.4, 0.4))
            if not (clear(zc - 3) and clear(zc + 3)):
                continue
            if rng.random() < 0.07:
                L, W, H = float(rng.uniform(5.5, 6.0)), 2.3, float(rng.uniform(2.8, 3.2))
                kind = "truck"
                c = (_jit(rng, _pick(rng, _CAR_COLOURS), 15), _jit(rng, (220, 220, 220), 20))
                style = ""
            else:
                style, (L, W, H) = _car_style(rng)
                kind = "car"
                cc = _jit(rng, _pick(rng, _CAR_COLOURS), 18)
                c = (cc, cc)
            street.append(Vehicle(kind, s * (side.R - 1.1), zc, s if s > 0 else -1, L, W, H, c[0], c[1], style))
    # people standing about
    for _ in range(int(rng.poisson(1.0 * st.density_people))):
        zp = float(rng.uniform(za, zb))
        if not clear(zp):
            continue
        for _ in range(int(rng.integers(1, 4))):  # alone or in a small group
            a = _person_attrs(rng)
            lo = 1.4 if side.verge == 0 and side.walk > 2.2 else 0.4
            x = s * (side.R + side.verge + rng.uniform(lo, side.walk - 0.3))
            street.append(Person(x, zp + float(rng.uniform(-1.2, 1.2)), side.kerb, a["h"], a["skin"], a["shirt"],
                                 a["pants"], a["hair"], (1.0, 0.0), 0.0, 0.0, a["bag"]))
    return BlockContent(ground, back, street, _pack_decals(_decals(rng, st, s, za, zb)))


def _pack_decals(decals: list) -> list:
    """[(K×M×3 quads, colour, near_only)] → [(K×8×3 polygons, colour index per polygon, colours, near_only)]."""
    if not decals:
        return []
    polys, ids = [], []
    for i, (q, _c, _n) in enumerate(decals):
        q = np.asarray(q, dtype=np.float64)
        if q.shape[1] < 8:  # pad with the last vertex: degenerate vertices fill nothing extra
            q = np.concatenate([q, np.repeat(q[:, -1:], 8 - q.shape[1], axis=1)], axis=1)
        polys.append(q)
        ids.append(np.full(len(q), i))
    return [(np.concatenate(polys), np.concatenate(ids), [c for _, c, _ in decals], [n for _, _, n in decals])]


class BlockCache:
    """make_block with a bounded memo: blocks are reused by many consecutive frames."""

    def __init__(self, seed: int, st: Street, size: int = 96) -> None:
        self.seed, self.st, self.size = seed, st, size
        self._memo: OrderedDict[tuple[int, int], BlockContent] = OrderedDict()

    def get(self, s: int, b: int) -> BlockContent:
        key = (s, b)
        c = self._memo.get(key)
        if c is None:
            c = make_block(self.seed, self.st, s, b)
            self._memo[key] = c
            while len(self._memo) > self.size:
                self._memo.popitem(last=False)
        return c


# ---------------------------------------------------------------------------------------------
# the ground: road, kerbs, verges, sidewalks and markings
# ---------------------------------------------------------------------------------------------
_SEG = np.array([-3000.0, -320, -200, -130, -85, -55, -35, -22, -14, -8, -4, 0, 4, 8, 14, 22, 35, 55, 85, 130, 200, 320, 3000])


def ground_strips(st: Street) -> list[tuple[float, float, float, float, tuple, int, bool]]:
    """(x0, x1, y0, y1, colour, label, vertical) strips, drawn in order."""
    out = [(-400.0, 400.0, 0.0, 0.0, st.terrain_col, TERRAIN, False)]
    L, R = st.sides[-1], st.sides[1]
    out.append((-L.R, R.R, 0.0, 0.0, st.road_col, ROAD, False))
    for s, sd in st.sides.items():
        if sd.verge > 0:
            a, b = sorted((s * sd.R, s * (sd.R + sd.verge)))
            out.append((a, b, sd.kerb, sd.kerb, sd.verge_col, TERRAIN, False))
        a, b = sorted((s * (sd.R + sd.verge), s * sd.edge))
        out.append((a, b, sd.kerb, sd.kerb, sd.walk_col, SIDEWALK, False))
        out.append((s * sd.R, s * sd.R, 0.0, sd.kerb, sd.kerb_col, SIDEWALK, True))
    return out
