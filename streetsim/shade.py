"""A scene's colour function: lighting, white balance, saturation, headlights and distance fog."""

from __future__ import annotations

import math


class Shade:
    """Per-frame colour function: lighting, white balance and distance fog."""

    __slots__ = ("light", "wb", "fog_k", "fog", "head", "px", "sat")

    def __init__(self, light: float, wb, fog_k: float, fog, headlights: float, px_scale: float,
                 saturation: float = 1.0) -> None:
        self.sat = saturation  # the camera's colour response: < 1 washed out, > 1 vivid
        self.light = light
        self.wb = wb
        self.fog_k = fog_k
        self.fog = fog
        self.head = headlights  # extra light near the camera (night dashcam)
        self.px = px_scale  # pixels at this frame size per pixel at 1280 wide

    def __call__(self, c, d: float, k: float = 1.0):
        """Lit, fogged BGR for a surface of base colour ``c`` at distance ``d`` (``k`` = face factor)."""
        a = 1.0 - math.exp(-self.fog_k * d) if d > 0 else 0.0
        light = self.light
        if self.head:
            light += self.head * math.exp(-d / 18.0)
        m = light * k * (1.0 - a)
        wb, f, s = self.wb, self.fog, self.sat
        g = (c[0] + c[1] + c[2]) * (1.0 - s) / 3.0
        return ((g + s * c[0]) * wb[0] * m + f[0] * a, (g + s * c[1]) * wb[1] * m + f[1] * a,
                (g + s * c[2]) * wb[2] * m + f[2] * a)

    def emit(self, c, d: float):
        """An emissive colour (lamps, lit windows) seen through the fog."""
        a = 1.0 - math.exp(-self.fog_k * d) if d > 0 else 0.0
        f = self.fog
        b = 1.0 - a
        return (c[0] * b + f[0] * a, c[1] * b + f[1] * a, c[2] * b + f[2] * a)
