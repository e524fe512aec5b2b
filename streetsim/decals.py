"""Paint on the ground of one block: asphalt patches, cracks, manhole covers and paving joints."""

from __future__ import annotations

import math

import numpy as np

from streetsim.street import Street


def block_decals(rng: np.random.Generator, st: Street, s: int, za: float, zb: float) -> list:
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


def pack_decals(decals: list) -> list:
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
