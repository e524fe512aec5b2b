"""Moving things: vehicles in every lane and pedestrians on the sidewalks, as periodic streams.

Slot j of a stream sits at an analytic position in t, and its looks come from a generator seeded by
(stream seed, j mod TABLE), so any frame can be drawn without the frames before it.
"""

from __future__ import annotations

import math

import numpy as np

from streetsim.chance import jitter_colour, pick
from streetsim.palette import BUS_COLOURS, CAR_COLOURS, car_style, person_attrs
from streetsim.people import Person
from streetsim.street import Street
from streetsim.vehicles import Vehicle

TABLE = 512  # slots per moving stream before its pattern repeats


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
            c1 = jitter_colour(rng, pick(rng, CAR_COLOURS), 15)
            cargo = ((230, 230, 230), (200, 200, 205), (60, 60, 150), (150, 90, 40), (40, 110, 40))
            c2 = jitter_colour(rng, pick(rng, cargo), 15)
            return "truck", jitter, dims, c1, c2, ""
        if r < self.big:
            dims = (float(rng.uniform(10.0, 12.5)), float(rng.uniform(2.45, 2.55)), float(rng.uniform(3.0, 3.4)))
            c1 = jitter_colour(rng, pick(rng, BUS_COLOURS), 15)
            return "bus", jitter, dims, c1, jitter_colour(rng, pick(rng, BUS_COLOURS), 15), ""
        style, dims = car_style(rng)
        c = jitter_colour(rng, pick(rng, CAR_COLOURS), 18)
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
                float(rng.uniform(0, 2 * np.pi)), person_attrs(rng))

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
