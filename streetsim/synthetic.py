"""Synthetic street-scene video with per-pixel Cityscapes labels.

``synthetic://street?seed=7&frames=300&size=1280x720&fps=30&camera=dashcam`` describes a video:
a procedurally generated street (road, lane markings, kerbs, sidewalks, buildings with windows,
poles, traffic signs, trees, grass, sky; parked and moving cars, trucks, buses; walking people)
seen by a moving dashcam or by a fixed surveillance camera, under day/dusk/night light and
clear/overcast/fog/rain weather, with blur, sensor noise and JPEG artefacts.

``StreetScene(spec).render(i)`` returns ``(image BGR uint8 H×W×3, labels uint8 H×W)`` for frame
``i``: a pure function of (spec, i), so frames can be rendered in any order. Labels are
Cityscapes train IDs (``segcore.labels.CITYSCAPES``), 255 = ignore (objects too small to
resolve). See docs/synthetic-data.md.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
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

# bumped whenever the same (spec, index) renders differently: caches of rendered frames key on it
GENERATOR_VERSION = 6

# classes the generator draws (Cityscapes train IDs)
CLASSES = (0, 1, 2, 5, 7, 8, 9, 10, 11, 13, 14, 15)
REQUIRED_CLASSES = CLASSES


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


class StreetScene:
    """The frames of one synthetic video; ``render(i)`` is deterministic and random-access.

    A scene memoises the street it has built, so it is not thread-safe: use one per thread
    (scenes in different threads are fine; the tiles they share are locked).
    """

    def __init__(self, spec: SyntheticSpec) -> None:
        from streetsim.scene import World

        self.spec = spec
        self._world = World(int(spec.seed), int(spec.width), int(spec.height), spec.camera)

    @property
    def look(self) -> dict[str, str]:
        """Time of day and weather of this scene (for reports)."""
        return {"time": self._world.look.tod, "weather": self._world.look.weather}

    def render(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Frame ``index``: (image H×W×3 uint8 BGR, labels H×W uint8 train IDs, 255 = ignore)."""
        if isinstance(index, bool) or not isinstance(index, int | np.integer) or index < 0:
            raise IndexError(f"frame index must be a non-negative integer, got {index!r}")
        if self.spec.frames is not None and index >= self.spec.frames:
            raise IndexError(f"frame {index} out of range: this video has {self.spec.frames} frames")
        index = int(index)
        rng = np.random.default_rng([int(self.spec.seed) & 0xFFFFFFFF, index, 0xF4A3E])
        return self._world.render(index / float(self.spec.fps), rng)

    def __len__(self) -> int:
        """The number of frames; TypeError for an endless video (``frames=None``)."""
        if self.spec.frames is None:
            raise TypeError("an endless synthetic video (frames=None) has no length")
        return int(self.spec.frames)

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        i = 0
        while self.spec.frames is None or i < self.spec.frames:
            yield self.render(i)
            i += 1


def _colourise(labels: np.ndarray) -> np.ndarray:
    from segcore.labels import CITYSCAPES

    lut = np.zeros((256, 3), np.uint8)
    lut[: CITYSCAPES.num_classes] = [c[::-1] for c in CITYSCAPES.palette]
    lut[255] = (255, 255, 255)
    return lut[labels]


def main(argv: list[str] | None = None) -> int:
    """``python -m streetsim.synthetic [URI] --save DIR --at 0,150`` or ``--bench 60``."""
    import argparse
    import time
    from pathlib import Path

    import cv2

    ap = argparse.ArgumentParser(prog="python -m streetsim.synthetic",
                                 description="Preview or time the synthetic street generator.")
    ap.add_argument("uri", nargs="?", default="synthetic://street?seed=7", help="synthetic://street?... URI")
    ap.add_argument("--save", metavar="DIR", help="write frame_NNNNNN.png and labels_NNNNNN.png (colour) here")
    ap.add_argument("--at", default="0", help="frame indices to save, comma-separated (default 0)")
    ap.add_argument("--bench", type=int, metavar="N", help="time N frames on one OpenCV thread (CPU time)")
    args = ap.parse_args(argv)
    try:
        scene = StreetScene(SyntheticSpec.from_uri(args.uri))
    except SourceError as exc:
        print(f"error: {exc}")
        return 2
    print(f"{scene.spec.to_uri()}  time={scene.look['time']} weather={scene.look['weather']}")
    if args.save:
        out = Path(args.save)
        out.mkdir(parents=True, exist_ok=True)
        for text in args.at.split(","):
            i = int(text)
            image, labels = scene.render(i)
            cv2.imwrite(str(out / f"frame_{i:06d}.png"), image)
            cv2.imwrite(str(out / f"labels_{i:06d}.png"), _colourise(labels))
        print(f"saved {len(args.at.split(','))} frame(s) to {out}")
    if args.bench:
        cv2.setNumThreads(1)
        scene.render(0)
        times = []
        for i in range(1, args.bench + 1):
            t = time.thread_time()
            scene.render(i)
            times.append(time.thread_time() - t)
        ms = np.array(times) * 1e3
        print(f"render: mean {ms.mean():.1f} ms, p50 {np.percentile(ms, 50):.1f}, p95 {np.percentile(ms, 95):.1f}, "
              f"max {ms.max():.1f} (CPU time per frame, {len(ms)} frames)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
