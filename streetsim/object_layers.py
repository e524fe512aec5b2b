"""The layers of things standing in the street, each painted far to near.

The back layer (buildings, gardens, parks) lies outside the street corridor and the camera always
stands inside it, so nothing in the back layer can occlude the street layer (furniture, parked and
moving vehicles, people), which is painted after it.
"""

from __future__ import annotations

import math

from streetsim.blocks import BLOCK, BlockCache
from streetsim.camera import Camera
from streetsim.canvas import Canvas
from streetsim.shade import Shade

BACK_FAR = 240.0  # metres of buildings drawn ahead of a moving camera
STREET_FAR = 150.0  # metres of street objects


class ObjectLayers:
    def __init__(self, blocks: BlockCache, streams: list, stream_base: float, night: bool, px: float) -> None:
        self.blocks, self.streams = blocks, streams
        self.stream_base = stream_base  # the camera's start: own-lane traffic keeps its distance from it
        self.night, self.px = night, px

    def back(self, cv: Canvas, sh: Shade, lo: float, hi: float) -> None:
        """Ground patches, then buildings, hedges and park trees of the blocks in lo..hi."""
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
        self.paint(cv, sh, objs)

    def street_static(self, cam: Camera, lo: float, hi: float) -> list:
        """Furniture, parked cars and standing people of the blocks in lo..hi that the camera sees."""
        objs: list = []
        for s in (-1, 1):
            for b in range(math.floor(lo / BLOCK), math.floor(hi / BLOCK) + 1):
                objs.extend(o for o in self.blocks.get(s, b).street if o.in_view(cam))
        return objs

    def moving(self, cam: Camera, t: float, lo: float, hi: float) -> list:
        """Traffic and pedestrians in lo..hi at time t that the camera sees."""
        objs: list = []
        for stream in self.streams:
            if hasattr(stream, "min_rel"):
                items = stream.items(t, lo, hi, self.stream_base)
            else:
                items = stream.items(t, lo, hi)
            objs.extend(o for o in items if o.in_view(cam))
        return objs

    def paint(self, cv: Canvas, sh: Shade, objs: list) -> None:
        """Paint objects far to near; those under their MIN_PX pixels (at 1280 wide) are not drawn at all."""
        cam = cv.cam
        keyed = sorted(((o.key(cam), i, o) for i, o in enumerate(objs)), reverse=True)
        night = self.night
        f = cam.f / self.px
        for d, _, o in keyed:
            if o.size() * f < o.MIN_PX * d:
                continue
            o.draw(cv, sh, max(d, 0.5), night)
