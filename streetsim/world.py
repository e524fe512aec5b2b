"""One synthetic street scene: its look, street, camera rig and layers, and the assembly of a frame.

Layers, far to near: sky (precomputed) → ground strips and markings → back objects (buildings,
parks: all outside the street corridor) → street objects (furniture, parked and moving vehicles,
people: inside the corridor). The camera always stands inside the corridor, so nothing in the
back layer can occlude a street object; within each layer objects are painted far to near.
A fixed camera caches the first three layers once. ``draw(t)`` gives the frame before the camera
effects; ``effects.apply`` (noise, rain, glow, blur, JPEG, seeded per frame) finishes it.
"""

from __future__ import annotations

import numpy as np

from streetsim.blocks import BlockCache
from streetsim.camera_rig import CameraRig
from streetsim.canvas import Canvas
from streetsim.effects import Effects
from streetsim.ground import Ground
from streetsim.look import make_look
from streetsim.object_layers import BACK_FAR, STREET_FAR, ObjectLayers
from streetsim.shade import Shade
from streetsim.sky import make_sky
from streetsim.street import make_street
from streetsim.traffic import make_streams


class World:
    def __init__(self, seed: int, width: int, height: int, mode: str) -> None:
        self.seed, self.width, self.height, self.mode = seed, width, height, mode
        # one generator for the whole scene: the order of the draws below is part of the scene's identity
        rng = np.random.default_rng([seed & 0xFFFFFFFF, 0x5EED, 1 if mode == "fixed" else 0])
        self.look = look = make_look(rng)
        self.street = st = make_street(rng)
        self.px = width / 1280.0
        self.blocks = BlockCache(seed, st)
        self.rig = rig = CameraRig(rng, st, width, height, mode)
        streams = make_streams(rng, st, rig.lane, rig.speed, rig.base, rig.amp)
        skyline = None
        if look.skyline:
            skyline = tuple(0.55 * a + 0.45 * b for a, b in zip(look.sky_horizon, (90, 90, 95), strict=True))
            if look.night:
                skyline = (25, 22, 22)
        self.sky_img, self.sky_lab = make_sky(rng, width, height, rig.horizon_v, look.sky_zenith, look.sky_horizon,
                                              look.clouds, look.night, skyline, self.px)
        head = 0.9 if (look.night and mode == "dashcam") else 0.0
        self.shade = Shade(look.light, look.wb, look.fog_k, look.fog, head, self.px, look.saturation)
        ground_shade = Shade(look.light, look.wb, look.fog_k, look.fog, 0.0, self.px, look.saturation)
        self.ground = Ground(seed, st, self.blocks, look, rig, ground_shade, width, height)
        self.layers = ObjectLayers(self.blocks, streams, rig.z0, look.night, self.px)
        self.effects = Effects(rng, width, height, look.noise, look.rain, look.blur_p, look.jpeg_p, look.night,
                               headlight_glow=head > 0)
        self._bg: tuple[np.ndarray, np.ndarray] | None = None
        self._static: list | None = None

    def draw(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """The frame at time t before camera effects: (image H×W×3 uint8 BGR, labels H×W uint8)."""
        cam = self.rig.camera(t)
        sh = self.shade
        layers = self.layers
        if self.mode == "fixed":
            if self._bg is None:
                img, lab = self.sky_img.copy(), self.sky_lab.copy()
                cv = Canvas(img, lab, cam)
                self.ground.draw(cv)
                layers.back(cv, sh, cam.pos[2] - 200, cam.pos[2] + 300)
                self._bg = (img, lab)
                self._static = [o for o in layers.street_static(cam, cam.pos[2] - 150, cam.pos[2] + 200)
                                if o.key(cam) > 6.0]
            img, lab = self._bg[0].copy(), self._bg[1].copy()
            cv = Canvas(img, lab, cam)
            objs = list(self._static or []) + layers.moving(cam, t, cam.pos[2] - 150, cam.pos[2] + 200)
            layers.paint(cv, sh, objs)
        else:
            img, lab = self.sky_img.copy(), self.sky_lab.copy()
            cv = Canvas(img, lab, cam)
            zc = cam.pos[2]
            self.ground.draw(cv)
            layers.back(cv, sh, zc - 12, zc + BACK_FAR)
            objs = layers.street_static(cam, zc - 12, zc + STREET_FAR) + layers.moving(cam, t, zc - 12, zc + STREET_FAR)
            layers.paint(cv, sh, objs)
        return cv.img, cv.lab
