"""Where a scene's camera stands and how it moves, drawn once per seed.

A dashcam drives along one lane at a steady speed with a slow surge, sway, bounce and wobble, all
analytic in t; a fixed camera hangs on a wall or pole at the side, or over the road, and never moves.
"""

from __future__ import annotations

import math

import numpy as np

from streetsim.camera import Camera
from streetsim.street import Street


class CameraRig:
    def __init__(self, rng: np.random.Generator, st: Street, width: int, height: int, mode: str) -> None:
        self.mode, self.width, self.height = mode, width, height
        self.lane: int | None = None  # the dashcam's own lane (its traffic keeps ahead of it)
        if mode == "dashcam":
            lane = int(rng.integers(0, st.lanes))
            self.lane = lane
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
            self.base = self.z0  # where the streams' own-lane slots are measured from
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
            self.base = 0.0
            self.speed = self.amp = 0.0
        self.cx = width / 2 + float(rng.uniform(-0.02, 0.02)) * width
        self.cy = height / 2 + float(rng.uniform(-0.03, 0.03)) * height

    @property
    def horizon_v(self) -> float:
        """The image row of the horizon (at rest)."""
        return self.cy - self.f * math.tan(self.pitch)

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
