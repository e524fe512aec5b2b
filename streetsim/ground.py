"""The ground layer: road, kerbs, verges and sidewalks in strips, paint on the ground, side streets,
lane markings and crosswalks, sun shadows, and fog that deepens smoothly with the image row.

The ground is drawn first over the sky and never occludes anything; it keeps its own shade (no
headlights), and under thick fog one colour per strip with the row fog on top instead of per-strip fog.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from streetsim.blocks import BLOCK, CROSS_WALK, BlockCache, crossing
from streetsim.buildings import Building
from streetsim.camera import SHIFT
from streetsim.camera_rig import CameraRig
from streetsim.canvas import Canvas
from streetsim.furniture import Tree
from streetsim.labels import ROAD, SIDEWALK, TERRAIN
from streetsim.look import Look
from streetsim.object_layers import BACK_FAR
from streetsim.shade import Shade
from streetsim.street import Street

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


_OCT = np.stack([np.cos(np.linspace(0, 2 * np.pi, 8, endpoint=False)),
                 np.sin(np.linspace(0, 2 * np.pi, 8, endpoint=False))], 1)

class Ground:
    def __init__(self, seed: int, st: Street, blocks: BlockCache, look: Look, rig: CameraRig, shade: Shade,
                 width: int, height: int) -> None:
        self.seed, self.street, self.blocks, self.look, self.shade = seed, st, blocks, look, shade
        self.mode, self.height = rig.mode, height
        self.strips = ground_strips(st)
        self._row_fog = self._make_row_fog(rig, width, height) if look.fog_k > 1 / 300 else None
        self._crossing_memo: dict = {}
        self._mask = np.zeros((height, width), np.uint8)
        self._shadow_memo: dict = {}

    def _make_row_fog(self, rig: CameraRig, width: int, height: int):
        """Fog over the ground as a function of the image row (smooth, unlike per-strip colours)."""
        h, w = height, width
        horizon_v = rig.horizon_v
        v = np.arange(h, dtype=np.float64) + 0.5
        ang = np.arctan((v - rig.cy) / rig.f) + rig.pitch
        dist = np.where(ang > 1e-4, rig.cam_h / np.sin(np.maximum(ang, 1e-4)), 1e6)
        a = 1.0 - np.exp(-self.look.fog_k * dist)
        top = int(np.clip(math.floor(horizon_v) - 2, 0, h))
        a[:top] = 0.0
        keep = np.round(255 * (1 - a)).astype(np.uint8)
        add = np.round(np.asarray(self.look.fog)[None, :] * a[:, None]).astype(np.uint8)
        keep3 = np.ascontiguousarray(np.broadcast_to(keep[top:, None, None], (h - top, w, 3)))
        add3 = np.ascontiguousarray(np.broadcast_to(add[top:, None, :], (h - top, w, 3)))
        return top, keep3, add3

    def draw(self, cv: Canvas) -> None:
        """Road, kerbs, verges, sidewalks, decals, side streets, markings, sun shadows, row fog."""
        cam = cv.cam
        fog = self._row_fog
        sh = self.shade
        zc, xc = cam.pos[2], cam.pos[0]
        seg = _SEG if self.mode == "fixed" else _SEG[_SEG >= -8.0]
        za, zb = zc + seg[:-1], zc + seg[1:]
        dist = np.hypot(np.maximum(np.minimum(np.abs(za - zc), np.abs(zb - zc)), 0) + 0.35 * (zb - za), 1.0)
        dist[(za <= zc) & (zb >= zc)] = 2.0
        n = len(za)
        for x0, x1, y0, y1, col, label, vertical in self.strips:
            P = np.empty((n, 4, 3))
            if vertical:
                P[:, :, 0] = x0
                P[:, 0, 1] = y0
                P[:, 1, 1] = y1
                P[:, 2, 1] = y1
                P[:, 3, 1] = y0
                P[:, 0, 2] = za
                P[:, 1, 2] = za
                P[:, 2, 2] = zb
                P[:, 3, 2] = zb
                if (xc - x0) * x0 > 0:  # the kerb's face looks away from the camera
                    continue
            else:
                P[:, :, 1] = y0
                P[:, 0, 0] = x0
                P[:, 1, 0] = x1
                P[:, 2, 0] = x1
                P[:, 3, 0] = x0
                P[:, 0, 2] = za
                P[:, 1, 2] = za
                P[:, 2, 2] = zb
                P[:, 3, 2] = zb
            dx = 0.0 if x0 <= xc <= x1 else min(abs(x0 - xc), abs(x1 - xc))
            allp = []
            if fog is not None:  # one colour; the row fog below shades it smoothly
                allp = [pts for _, pts in cv.project_indexed(P)]
                cv.fill(allp, sh(col, 0.0))
            else:
                for k, pts in cv.project_indexed(P):
                    cv.fill([pts], sh(col, math.hypot(dist[k], dx)))
                    allp.append(pts)
            cv.fill_label(allp, label)
        self._decals(cv, sh)
        self._crossings(cv, sh)
        self._markings(cv, sh)
        if self.look.sun is not None:
            self._shadows(cv)
        if fog is not None:
            top, keep, add = fog
            band = cv.img[top:]
            cv2.multiply(band, keep, dst=band, scale=1 / 255)
            cv2.add(band, add, dst=band)

    def _decals(self, cv: Canvas, sh: Shade) -> None:
        cam = cv.cam
        zc = cam.pos[2]
        lo, hi = (zc - 12, zc + 90) if self.mode == "dashcam" else (zc - 150, zc + 150)
        fogless = self._row_fog is not None
        for b in range(math.floor(lo / BLOCK), math.floor(hi / BLOCK) + 1):
            dz = max(abs((b + 0.5) * BLOCK - zc) - BLOCK / 2, 2.0)
            for s in (-1, 1):
                for P, ids, cols, near_only in self.blocks.get(s, b).decals:
                    groups: dict[int, list] = {}
                    for k, pts in cv.project_indexed(P):
                        groups.setdefault(int(ids[k]), []).append(pts)
                    for i, group in groups.items():
                        if near_only[i] and dz > 45:
                            continue
                        cv.fill(group, sh(cols[i], 0.0 if fogless else dz))

    def _crossings(self, cv: Canvas, sh: Shade) -> None:
        """Side streets: road across the sidewalk and verge, with a sidewalk along each edge."""
        cam = cv.cam
        zc = cam.pos[2]
        lo, hi = (zc - 12, zc + BACK_FAR) if self.mode == "dashcam" else (zc - 200, zc + 300)
        st = self.street
        fogless = self._row_fog is not None
        for b in range(math.floor(lo / BLOCK), math.floor(hi / BLOCK) + 1):
            c = self._crossing(b)
            if c is None:
                continue
            z0, z1, sides = c
            d = 0.0 if fogless else max(abs(z0 - zc), 2.0)
            for s in sides:
                side = st.sides[s]
                y = side.kerb
                far = s * 400.0
                road = np.array([[s * side.R, 0.004, z0], [far, 0.004, z0], [far, 0.004, z1], [s * side.R, 0.004, z1]])
                walks = np.array([
                    [[s * side.edge, y, z0 - CROSS_WALK], [far, y, z0 - CROSS_WALK], [far, y, z0], [s * side.edge, y, z0]],
                    [[s * side.edge, y, z1], [far, y, z1], [far, y, z1 + CROSS_WALK], [s * side.edge, y, z1 + CROSS_WALK]],
                ])
                cv.fill(cv.project_many(walks), sh(side.walk_col, d), SIDEWALK)
                cv.poly(road, sh(st.road_col, d), ROAD)

    def _shadows(self, cv: Canvas) -> None:
        """Sun shadows of buildings and trees on the ground (image only: the ground keeps its label)."""
        cam = cv.cam
        zc = cam.pos[2]
        lo, hi = (zc - 30, zc + 160) if self.mode == "dashcam" else (zc - 150, zc + 200)
        polys = []
        for b in range(math.floor(lo / BLOCK), math.floor(hi / BLOCK) + 1):
            for s in (-1, 1):
                P = self._block_shadows(s, b)
                if P is not None:
                    polys.extend(cv.project_many(P))
        if not polys:
            return
        h = self.height
        top = max(0, min(int(p[:, 1].min()) >> SHIFT for p in polys))
        bottom = min(h, max(int(p[:, 1].max()) >> SHIFT for p in polys) + 2)
        if bottom <= top:
            return
        mask = self._mask
        mask[top:bottom].fill(0)
        for p in polys:  # one call each: overlapping shadows must not cancel (fillPoly is even-odd)
            cv2.fillPoly(mask, [p], 255, cv2.LINE_8, SHIFT)
        band = cv.img[top:bottom]
        assert self.look.sun is not None
        shaded = cv2.convertScaleAbs(band, alpha=1.0 - self.look.sun[3])
        cv2.copyTo(shaded, mask[top:bottom], band)

    def _block_shadows(self, s: int, b: int) -> np.ndarray | None:
        """The ground shadows (world, K×8×3) of a block's buildings and trees; memoised."""
        key = (s, b)
        P = self._shadow_memo.get(key, False)
        if P is not False:
            return P
        assert self.look.sun is not None
        sx, sz, cot, _ = self.look.sun
        c = self.blocks.get(s, b)
        out = []
        for o in c.back + c.street:
            if isinstance(o, Building):
                ox, oz = sx * cot * o.h, sz * cot * o.h
                fp = np.array([[o.x0, o.z0], [o.x1, o.z0], [o.x1, o.z1], [o.x0, o.z1]], np.float32)
                hull = cv2.convexHull(np.concatenate([fp, fp + (ox, oz)]).astype(np.float32))[:, 0, :]
                hull = np.concatenate([hull, np.repeat(hull[-1:], 8 - len(hull), axis=0)])
            elif isinstance(o, Tree):
                hc = o.th + o.r * 0.6
                cx, cz = o.x + sx * cot * hc, o.z + sz * cot * hc
                hull = np.stack([cx + o.r * 0.9 * _OCT[:, 0], cz + o.r * 0.9 * (1 + 0.3 * cot) * _OCT[:, 1]], 1)
            else:
                continue
            P3 = np.zeros((8, 3))
            P3[:, 0] = hull[:, 0]
            P3[:, 1] = 0.05
            P3[:, 2] = hull[:, 1]
            out.append(P3)
        P = np.stack(out) if out else None
        if len(self._shadow_memo) > 256:
            self._shadow_memo.clear()
        self._shadow_memo[key] = P
        return P

    def _crossing(self, b: int):
        c = self._crossing_memo.get(b, False)
        if c is False:
            c = crossing(self.seed, self.street, b)
            if len(self._crossing_memo) > 512:
                self._crossing_memo.clear()
            self._crossing_memo[b] = c
        return c

    def _markings(self, cv: Canvas, sh: Shade) -> None:
        st = self.street
        cam = cv.cam
        zc = cam.pos[2]
        lo, hi = (zc - 12, zc + 150) if self.mode == "dashcam" else (zc - 150, zc + 150)
        y = 0.006
        wline = 0.14
        dash, period = st.dash
        quads = []
        solid = []
        dm = 0.0 if self._row_fog is not None else 25.0
        mark = sh(st.mark_col, dm)
        centre = sh(st.centre_col, dm)
        # lane dividers (dashed), centre line, edge lines
        xs = [i * st.lane_w for i in range(1, st.lanes)] + [-i * st.lane_w for i in range(1, st.lanes)]
        k0, k1 = math.floor(lo / period), math.ceil(hi / period)
        ks = np.arange(k0, k1 + 1) * period
        for x in xs:
            quads.append(_dashes(x, wline, ks, dash, y))
        if st.centre_style == "dashed":
            cq = [_dashes(0.0, wline, ks, dash, y)]
        elif st.centre_style == "solid":
            cq = [_quad(-wline / 2, wline / 2, lo, hi, y)[None]]
        else:
            cq = [_quad(-0.2, -0.2 + wline, lo, hi, y)[None], _quad(0.2 - wline, 0.2, lo, hi, y)[None]]
        if st.edge_lines:
            for s in (-1, 1):
                x = s * st.lanes * st.lane_w
                solid.append(_quad(x - wline / 2, x + wline / 2, lo, hi, y)[None])
        if quads:
            cv.fill(cv.project_many(np.concatenate(quads)), mark)
        if solid:
            cv.fill(cv.project_many(np.concatenate(solid)), mark)
        cv.fill(cv.project_many(np.concatenate(cq)), centre)
        if st.crosswalk_every:
            e = st.crosswalk_every
            b0, b1 = math.floor(lo / BLOCK), math.ceil(hi / BLOCK)
            xl, xr = -st.sides[-1].R + 0.4, st.sides[1].R - 0.4
            stripes = np.arange(xl, xr - 0.5, 1.1)
            for b in range(b0, b1 + 1):
                if b % e:
                    continue
                z = b * BLOCK + 1.0
                q = np.stack([_quad(x, x + 0.55, z, z + 3.5, y) for x in stripes])
                cv.fill(cv.project_many(q), sh(st.mark_col, 0.0 if dm == 0.0 else max(abs(z - zc), 5.0), 0.95))


def _quad(x0: float, x1: float, z0: float, z1: float, y: float) -> np.ndarray:
    return np.array([[x0, y, z0], [x1, y, z0], [x1, y, z1], [x0, y, z1]], dtype=np.float64)


def _dashes(x: float, w: float, starts: np.ndarray, length: float, y: float) -> np.ndarray:
    n = len(starts)
    P = np.empty((n, 4, 3))
    P[:, :, 1] = y
    P[:, 0, 0] = P[:, 3, 0] = x - w / 2
    P[:, 1, 0] = P[:, 2, 0] = x + w / 2
    P[:, 0, 2] = P[:, 1, 2] = starts
    P[:, 2, 2] = P[:, 3, 2] = starts + length
    return P
