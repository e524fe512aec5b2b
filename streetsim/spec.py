"""What a synthetic video is: ``synthetic://street?seed=7&frames=300&size=1280x720&fps=30&camera=dashcam``.

``SyntheticSpec`` holds the parameters (seed, frames, size, fps, camera), checks them, and parses
and writes the URI. Every parameter but ``frames`` (the video's length) changes the pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

import numpy as np

from segcore.errors import SourceError
from segcore.sizes import parse_wh

SCHEME = "synthetic"
HOST = "street"
CAMERAS = ("dashcam", "fixed")
_PARAMS = ("seed", "frames", "size", "fps", "camera")
MIN_SIZE, MAX_SIZE = 16, 8192


@dataclass(frozen=True)
class SyntheticSpec:
    seed: int = 0
    frames: int | None = 300  # None = endless
    width: int = 1280
    height: int = 720
    fps: float = 30.0
    camera: str = "dashcam"  # "dashcam" (moving car camera) | "fixed" (static surveillance camera)

    def __post_init__(self) -> None:
        if isinstance(self.seed, bool) or not isinstance(self.seed, int | np.integer) or self.seed < 0:
            raise SourceError(f"synthetic source: seed must be a non-negative integer, got {self.seed!r}")
        if self.frames is not None and (isinstance(self.frames, bool) or not isinstance(self.frames, int | np.integer)
                                        or self.frames < 1):
            raise SourceError(f"synthetic source: frames must be a positive integer or None (endless), got {self.frames!r}")
        for name in ("width", "height"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | np.integer) or not MIN_SIZE <= v <= MAX_SIZE:
                raise SourceError(f"synthetic source: {name} must be an integer in {MIN_SIZE}..{MAX_SIZE}, got {v!r}")
        if isinstance(self.fps, bool) or not isinstance(self.fps, int | float) or not (0 < self.fps <= 1000) \
                or not math.isfinite(self.fps):
            raise SourceError(f"synthetic source: fps must be a number in (0, 1000], got {self.fps!r}")
        if self.camera not in CAMERAS:
            raise SourceError(f"synthetic source: camera must be one of {', '.join(CAMERAS)}, got {self.camera!r}")

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return (self.width, self.height)

    @classmethod
    def from_uri(cls, uri: str) -> SyntheticSpec:
        """Parse ``synthetic://street?seed=7&frames=300&size=1280x720&fps=30&camera=dashcam``.

        Every parameter is optional. ``frames=0`` or ``frames=inf`` means endless. Raises
        SourceError (one line naming the parameter and its accepted values) for anything else.
        """
        if not isinstance(uri, str):
            raise SourceError(f"synthetic source: expected a URI string, got {type(uri).__name__}")
        parts = urlsplit(uri.strip())
        if parts.scheme != SCHEME or parts.netloc != HOST or parts.path not in ("", "/"):
            raise SourceError(f"not a synthetic source URI: {uri!r}; expected "
                              f"synthetic://street?seed=7&frames=300&size=1280x720&fps=30&camera=dashcam")
        if parts.fragment:
            raise SourceError(f"synthetic source {uri!r}: unexpected fragment '#{parts.fragment}'")
        kw: dict = {}
        seen: set[str] = set()
        try:
            pairs = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
        except ValueError:
            raise SourceError(f"synthetic source {uri!r}: malformed query; use name=value pairs joined by '&'") from None
        for name, value in pairs:
            if name not in _PARAMS:
                raise SourceError(f"synthetic source {uri!r}: unknown parameter {name!r}; accepted: {', '.join(_PARAMS)}")
            if name in seen:
                raise SourceError(f"synthetic source {uri!r}: parameter {name!r} given twice")
            seen.add(name)
            value = value.strip()
            if name == "seed":
                if not value.isdigit():
                    raise SourceError(f"synthetic source {uri!r}: seed={value!r} is not valid; accepted: one non-negative integer")
                kw["seed"] = int(value)
            elif name == "frames":
                if value.lower() in ("inf", "0"):
                    kw["frames"] = None
                elif value.isdigit():
                    kw["frames"] = int(value)
                else:
                    raise SourceError(f"synthetic source {uri!r}: frames={value!r} is not valid; accepted: a positive "
                                      f"integer, or 0 / inf for endless")
            elif name == "size":
                try:
                    w, h = parse_wh(value)
                except ValueError:
                    w = h = 0
                if not (MIN_SIZE <= w <= MAX_SIZE and MIN_SIZE <= h <= MAX_SIZE):
                    raise SourceError(f"synthetic source {uri!r}: size={value!r} is not valid; accepted: WIDTHxHEIGHT "
                                      f"with each in {MIN_SIZE}..{MAX_SIZE}, e.g. 1280x720")
                kw["width"], kw["height"] = w, h
            elif name == "fps":
                try:
                    fps = float(value)
                except ValueError:
                    fps = float("nan")
                if not (math.isfinite(fps) and 0 < fps <= 1000):
                    raise SourceError(f"synthetic source {uri!r}: fps={value!r} is not valid; accepted: a number in (0, 1000]")
                kw["fps"] = fps
            elif name == "camera":
                if value not in CAMERAS:
                    raise SourceError(f"synthetic source {uri!r}: camera={value!r} is not valid; accepted: {', '.join(CAMERAS)}")
                kw["camera"] = value
        return cls(**kw)

    def to_uri(self) -> str:
        frames = "inf" if self.frames is None else str(self.frames)
        fps = f"{self.fps:g}"
        return (f"{SCHEME}://{HOST}?seed={self.seed}&frames={frames}&size={self.width}x{self.height}"
                f"&fps={fps}&camera={self.camera}")
