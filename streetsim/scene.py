"""One synthetic street scene: the camera rig, the layers and the frame assembly.

Layers, far to near: sky (precomputed) → ground strips and markings → back objects (buildings,
parks: all outside the street corridor) → street objects (furniture, parked and moving vehicles,
people: inside the corridor). The camera always stands inside the corridor, so nothing in the
back layer can occlude a street object; within each layer objects are painted far to near.
A fixed camera caches the first three layers once.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from streetsim.effects import Effects, make_sky
from streetsim.layout import (
    _SEG,
    BLOCK,
    CROSS_WALK,
    BlockCache,
    crossing,
    ground_strips,
    make_look,
    make_streams,
    make_street,
)
from streetsim.objects import ROAD, SIDEWALK, Building, Shade, Tree
from streetsim.render import SHIFT, Camera, Canvas

_OCT = np.stack([np.cos(np.linspace(0, 2 * np.pi, 8, endpoint=False)),
                 np.sin(np.linspace(0, 2 * np.pi, 8, endpoint=False))], 1)

BACK_FAR = 240.0  # metres of buildings drawn ahead of a moving camera
STREET_FAR = 150.0  # metres of street objects


class World:
    def __init__(self, seed: int, width: int, height: int, mode: str) -> None:
        self.seed, self.width, self.height, self.mode = seed, width, height, mode
        rng = np.random.default_rng([seed & 0xFFFFFFFF, 0x5EED, 1 if mode == "fixed" else 0])
        self.look = look = make_look(rng)
        self.street = st = make_street(rng)
        self.px = width / 1280.0
        self.blocks = BlockCache(seed, st)
        self.strips = ground_strips(st)
        if mode == "dashcam":
            lane = int(rng.integers(0, st.lanes))
            self.speed = float(rng.uniform(3.0, 15.0))
            w = float(rng.uniform(0.05, 0.2))
            self.amp_w = w
            self.amp = float(min(rng.uniform(0, 8), 0.4 * self.speed / w))
            self.phase = rng.uniform(0, 2 * np.pi, 6)
            self.z0 = float(rng.uniform(0, 20000))
            self.x0 = (lane + 0.5) * st.lane_w + float(rng.uniform(-0.3, 0.3))
            self.cam_h = float(rng.uniform(1.2, 1.65) if rng.random() < 0.85 else rng.uniform(2.1, 2.6))
            self.pitch = float(rng.uniform(0.015, 0.075))
            self.yaw = float(rng.uniform(-0.03, 0.03))
            self.roll = float(rng.uniform(-0.02, 0.02))
            self.f = width * float(rng.uniform(0.6, 0.9))
            streams_lane, base = lane, self.z0
        else:
            s = int(rng.choice([-1, 1]))
            side = st.sides[s]
            self.z0 = float(rng.uniform(0, 20000))
            if rng.random() < 0.7:  # on a wall or pole at the side, looking across / along
                self.x0 = s * (side.edge - 0.4)
                self.cam_h = float(rng.uniform(4.0, 9.0))
                self.yaw = -s * float(rng.uniform(0.2, 1.1))
                self.pitch = float(rng.uniform(0.17, 0.45))
            else:  # over the road, looking along it
                self.x0 = float(rng.uniform(-st.sides[-1].R + 1, st.sides[1].R - 1))
                self.cam_h = float(rng.uniform(5.5, 8.5))
                self.yaw = float(rng.uniform(-0.3, 0.3)) + (np.pi if rng.random() < 0.3 else 0.0)
                self.pitch = float(rng.uniform(0.15, 0.35))
            self.roll = float(rng.uniform(-0.015, 0.015))
            self.f = width * float(rng.uniform(0.5, 0.8))
            streams_lane, base = None, 0.0
            self.speed = self.amp = 0.0
        self.cx = width / 2 + float(rng.uniform(-0.02, 0.02)) * width
        self.cy = height / 2 + float(rng.uniform(-0.03, 0.03)) * height
        self.streams = make_streams(rng, st, streams_lane, self.speed, base, self.amp)
        horizon_v = self.cy - self.f * math.tan(self.pitch)
        skyline = None
        if look.skyline:
            skyline = tuple(0.55 * a + 0.45 * b for a, b in zip(look.sky_horizon, (90, 90, 95), strict=True))
            if look.night:
                skyline = (25, 22, 22)
        self.sky_img, self.sky_lab = make_sky(rng, width, height, horizon_v, look.sky_zenith, look.sky_horizon,
                                              look.clouds, look.night, skyline, self.px)
        head = 0.9 if (look.night and mode == "dashcam") else 0.0
        self.shade = Shade(look.light, look.wb, look.fog_k, look.fog, head, self.px, look.saturation)
        self.ground_shade = Shade(look.light, look.wb, look.fog_k, look.fog, 0.0, self.px, look.saturation)
        self._row_fog = self._make_row_fog(horizon_v) if look.fog_k > 1 / 300 else None
        self.effects = Effects(rng, width, height, look.noise, look.rain, look.blur_p, look.jpeg_p, look.night,
                               headlight_glow=head > 0)
        self._bg: tuple[np.ndarray, np.ndarray] | None = None
        self._crossing_memo: dict = {}
        self._mask = np.zeros((height, width), np.uint8)
        self._shadow_memo: dict = {}
        self._static: list | None = None

    def _make_row_fog(self, horizon_v: float):
        """Fog over the ground as a function of the image row (smooth, unlike per-strip colours)."""
        h, w = self.height, self.width
        v = np.arange(h, dtype=np.float64) + 0.5
        ang = np.arctan((v - self.cy) / self.f) + self.pitch
        dist = np.where(ang > 1e-4, self.cam_h / np.sin(np.maximum(ang, 1e-4)), 1e6)
        a = 1.0 - np.exp(-self.look.fog_k * dist)
        top = int(np.clip(math.floor(horizon_v) - 2, 0, h))
        a[:top] = 0.0
        keep = np.round(255 * (1 - a)).astype(np.uint8)
        add = np.round(np.asarray(self.look.fog)[None, :] * a[:, None]).astype(np.uint8)
        keep3 = np.ascontiguousarray(np.broadcast_to(keep[top:, None, None], (h - top, w, 3)))
        add3 = np.ascontiguousarray(np.broadcast_to(add[top:, None, :], (h - top, w, 3)))
        return top, keep3, add3

    # -- camera ---------------------------------------------------------------------------------
    def camera(self, t: float) -> Camera:
        if self.mode == "fixed":
            pos = (self.x0, self.cam_h, self.z0)
            return Camera(pos, self.yaw, self.pitch, self.roll, self.f, self.width, self.height, self.cx, self.cy)
        p = self.phase
        w = self.amp_w
        z = self.z0 + self.speed * t + self.amp * (math.sin(w * t + p[0]) - math.sin(p[0]))
        x = self.x0 + 0.15 * math.sin(0.31 * t + p[1])
        y = self.cam_h + 0.012 * math.sin(7.1 * t + p[2])
        pitch = self.pitch + 0.003 * math.sin(1.7 * t + p[3]) + 0.0012 * math.sin(11.3 * t)
        yaw = self.yaw + 0.006 * math.sin(0.23 * t + p[4])
        roll = self.roll + 0.002 * math.sin(0.9 * t + p[5])
        return Camera((x, y, z), yaw, pitch, roll, self.f, self.width, self.height, self.cx, self.cy)

    # -- layers -----------------------------------------------------------------------------------
    def _ground(self, cv: Canvas, sh: Shade) -> None:
        cam = cv.cam
        fog = self._row_fog
        sh = self.ground_shade
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

    def _back(self, cv: Canvas, sh: Shade, lo: float, hi: float) -> None:
        cam = cv.cam
        objs: list = []
        patches = []
        for s in (-1, 1):
            for b in range(math.floor(lo / BLOCK), math.floor(hi / BLOCK) + 1):
                c = self.blocks.get(s, b)
                patches.extend(c.ground)
                objs.extend(o for o in c.back if o.in_view(cam))
        zc = cam.pos[2]
        for p in patches:
            p.draw(cv, sh, max(abs(float(p.P[:, 2].mean()) - zc), 1.0))
        self._paint(cv, sh, objs)

    def _street_static(self, cam: Camera, lo: float, hi: float) -> list:
        objs: list = []
        for s in (-1, 1):
            for b in range(math.floor(lo / BLOCK), math.floor(hi / BLOCK) + 1):
                objs.extend(o for o in self.blocks.get(s, b).street if o.in_view(cam))
        return objs

    def _moving(self, cam: Camera, t: float, lo: float, hi: float) -> list:
        objs: list = []
        for stream in self.streams:
            if hasattr(stream, "min_rel"):
                items = stream.items(t, lo, hi, self.z0)
            else:
                items = stream.items(t, lo, hi)
            objs.extend(o for o in items if o.in_view(cam))
        return objs

    def _paint(self, cv: Canvas, sh: Shade, objs: list) -> None:
        cam = cv.cam
        keyed = sorted(((o.key(cam), i, o) for i, o in enumerate(objs)), reverse=True)
        night = self.look.night
        f = cam.f / self.px  # objects under MIN_PX pixels (at 1280 wide) are not drawn at all
        for d, _, o in keyed:
            if o.size() * f < o.MIN_PX * d:
                continue
            o.draw(cv, sh, max(d, 0.5), night)

    # -- frames -----------------------------------------------------------------------------------
    def render(self, t: float, frame_rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        cam = self.camera(t)
        sh = self.shade
        if self.mode == "fixed":
            if self._bg is None:
                img, lab = self.sky_img.copy(), self.sky_lab.copy()
                cv = Canvas(img, lab, cam)
                self._ground(cv, sh)
                self._back(cv, sh, cam.pos[2] - 200, cam.pos[2] + 300)
                self._bg = (img, lab)
                self._static = [o for o in self._street_static(cam, cam.pos[2] - 150, cam.pos[2] + 200)
                                if o.key(cam) > 6.0]
            img, lab = self._bg[0].copy(), self._bg[1].copy()
            cv = Canvas(img, lab, cam)
            objs = list(self._static or []) + self._moving(cam, t, cam.pos[2] - 150, cam.pos[2] + 200)
            self._paint(cv, sh, objs)
        else:
            img, lab = self.sky_img.copy(), self.sky_lab.copy()
            cv = Canvas(img, lab, cam)
            zc = cam.pos[2]
            self._ground(cv, sh)
            self._back(cv, sh, zc - 12, zc + BACK_FAR)
            objs = self._street_static(cam, zc - 12, zc + STREET_FAR) + self._moving(cam, t, zc - 12, zc + STREET_FAR)
            self._paint(cv, sh, objs)
        img = self.effects.apply(cv.img, frame_rng, t)
        return img, cv.lab


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
