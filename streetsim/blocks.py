"""Static things, block by block: the buildings, gardens, parks, furniture and parked cars of 40 m of street.

A block comes from a generator seeded by (seed, side, block), so any stretch of street can be built
in any order; ``BlockCache`` keeps the blocks that consecutive frames share.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from streetsim.buildings import Building, GroundPatch, Hedge
from streetsim.chance import jitter_colour, pick
from streetsim.decals import block_decals, pack_decals
from streetsim.furniture import Pole, SignPole, Tree
from streetsim.labels import SIDEWALK, TERRAIN
from streetsim.palette import CAR_COLOURS, SIGNS, building_colour, car_style, green, person_attrs
from streetsim.people import Person
from streetsim.street import Street
from streetsim.vehicles import Vehicle

BLOCK = 40.0  # metres of street generated together
CROSS_WALK = 3.0  # sidewalk width along a side street


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
    base = green(rng)
    n = int(rng.integers(4, 8))
    u = rng.random((n, 6))
    dx = (u[:, 0] * 1.2 - 0.6) * r
    dy = (u[:, 1] * 1.2 + 0.2) * r
    rr = (u[:, 2] * 0.3 + 0.45) * r
    cols = np.clip(np.asarray(base)[None, :] + (u[:, 3:6] * 36 - 18), 0, 255)
    order = np.argsort(dy, kind="stable")
    crowns = [(float(dx[i]), float(dy[i]), float(rr[i]), tuple(cols[i].tolist())) for i in order]
    return Tree(x, z, y, float(rng.uniform(0.22, 0.45) * big), th, crowns, jitter_colour(rng, (45, 65, 85), 15))


def _plates(rng: np.random.Generator, pole_h: float):
    n = 1 if rng.random() < 0.75 else 2
    out = []
    y = pole_h - 0.1
    for _ in range(n):
        shape, rim, inner, sym = SIGNS[int(rng.integers(0, len(SIGNS)))]
        size = float(rng.uniform(0.8, 1.15))
        half = size * (0.75 if shape == "rect" else (0.6 if shape in ("triangle", "triangle_down", "diamond") else 0.5))
        cy = y - half
        out.append((shape, size, cy, jitter_colour(rng, rim, 10), jitter_colour(rng, inner, 10), sym))
        y = cy - half - 0.1
    return out


@dataclass
class BlockContent:
    ground: list  # GroundPatch
    back: list  # buildings, park trees and hedges (outside the corridor)
    street: list  # static things inside the corridor
    decals: list = field(default_factory=list)  # (quads K×M×3, colour, near_only): paint on the ground


def crossing(seed: int, st: Street, b: int) -> tuple[float, float, tuple[int, ...]] | None:
    """The side street at the start of block b: (z0, z1, sides it opens to), or None."""
    if st.cross_p <= 0:
        return None
    rng = np.random.default_rng([seed & 0xFFFFFFFF, 4242, b + (1 << 31)])
    if rng.random() >= st.cross_p:
        return None
    z0 = b * BLOCK + 5.0
    z1 = z0 + float(rng.uniform(7.0, 11.0))
    sides = pick(rng, ((-1, 1), (1,), (-1,)), (0.6, 0.2, 0.2))
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
            col = building_colour(rng)
            shop = bool(rng.random() < 0.45 and setback < 1.0)
            wins, lit, shops, bands = _windows(rng, s, fx, z, z1, h, shop)
            wincol = jitter_colour(rng, pick(rng, ((70, 55, 45), (100, 85, 70), (50, 45, 40), (140, 120, 100))), 15)
            back.append(Building(s, fx, float(rng.uniform(10, 25)), z, z1, h, col, jitter_colour(rng, col, 15),
                                 wins, lit, shops, bands, wincol, jitter_colour(rng, col, 30),
                                 rng.random(len(lit)) < rng.uniform(0, 0.4)))
            if setback > 0.3:
                garden = rng.random() < 0.5
                ground.append(GroundPatch(s * edge, fx, z, z1, side.kerb if not garden else 0.02,
                                          side.verge_col if garden else jitter_colour(rng, side.walk_col, 10),
                                          TERRAIN if garden else SIDEWALK))
                if garden and setback > 2 and rng.random() < 0.5:
                    x0, x1 = sorted((s * (edge + 0.2), s * (edge + 0.9)))
                    back.append(Hedge(x0, x1, z + 0.3, z1 - 0.3, float(rng.uniform(0.6, 1.3)), green(rng)))
        else:  # a park or garden: hedge, trees and maybe a building far back
            if rng.random() < 0.5:
                x0, x1 = sorted((s * (edge + 0.3), s * (edge + 1.2)))
                back.append(Hedge(x0, x1, z + 0.5, z1 - 0.5, float(rng.uniform(0.7, 1.6)), green(rng)))
            for _ in range(int(rng.integers(1, 3))):
                back.append(_tree(rng, st, s * (edge + rng.uniform(2.5, 12)), float(rng.uniform(z, z1)), 0.0, 1.4))
            if rng.random() < 0.5:
                fx = s * (edge + rng.uniform(14, 30))
                h = float(rng.uniform(*st.build_h))
                col = building_colour(rng)
                wins, lit, shops, bands = _windows(rng, s, fx, z, z1, h, False)
                back.append(Building(s, fx, 15.0, z, z1, h, col, col, wins, lit, shops, bands,
                                     jitter_colour(rng, (70, 55, 45), 20), col))
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
                               _plates(rng, h), jitter_colour(rng, (140, 140, 140), 30)))
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
                c = (jitter_colour(rng, pick(rng, CAR_COLOURS), 15), jitter_colour(rng, (220, 220, 220), 20))
                style = ""
            else:
                style, (L, W, H) = car_style(rng)
                kind = "car"
                cc = jitter_colour(rng, pick(rng, CAR_COLOURS), 18)
                c = (cc, cc)
            street.append(Vehicle(kind, s * (side.R - 1.1), zc, s if s > 0 else -1, L, W, H, c[0], c[1], style))
    # people standing about
    for _ in range(int(rng.poisson(1.0 * st.density_people))):
        zp = float(rng.uniform(za, zb))
        if not clear(zp):
            continue
        for _ in range(int(rng.integers(1, 4))):  # alone or in a small group
            a = person_attrs(rng)
            lo = 1.4 if side.verge == 0 and side.walk > 2.2 else 0.4
            x = s * (side.R + side.verge + rng.uniform(lo, side.walk - 0.3))
            street.append(Person(x, zp + float(rng.uniform(-1.2, 1.2)), side.kerb, a["h"], a["skin"], a["shirt"],
                                 a["pants"], a["hair"], (1.0, 0.0), 0.0, 0.0, a["bag"]))
    return BlockContent(ground, back, street, pack_decals(block_decals(rng, st, s, za, zb)))


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
