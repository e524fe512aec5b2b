"""The frames of one synthetic street video, as a pure function of (spec, frame index).

``StreetScene(spec).render(i)`` returns ``(image BGR uint8 H×W×3, labels uint8 H×W)`` for frame
``i``: a procedurally generated street (road, lane markings, kerbs, sidewalks, buildings with
windows, poles, traffic signs, trees, grass, sky; parked and moving cars, trucks, buses; walking
people) seen by a moving dashcam or by a fixed surveillance camera, under day/dusk/night light and
clear/overcast/fog/rain weather, with blur, sensor noise and JPEG artefacts. Frames can be
rendered in any order. Labels are Cityscapes train IDs (``segcore.labels.CITYSCAPES``), 255 =
ignore (objects too small to resolve). See docs/synthetic-data.md.

``StreetScene(spec, cache_dir=DIR)`` keeps the drawn frames of a finite video in a file under DIR
(``frame_cache``): a run that renders every frame in order writes it, later scenes of the same
spec unpack frames from it instead of drawing them, and give the same bits.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from streetsim.spec import SyntheticSpec

if TYPE_CHECKING:
    from streetsim.frame_cache import DrawnFrameCache

# bumped whenever the same (spec, index) renders differently: caches of rendered frames key on it
GENERATOR_VERSION = 6


class StreetScene:
    """The frames of one synthetic video; ``render(i)`` is deterministic and random-access.

    A scene memoises the street it has built, so it is not thread-safe: use one per thread
    (scenes in different threads are fine; the tiles they share are locked).
    """

    def __init__(self, spec: SyntheticSpec, cache_dir: str | Path | None = None) -> None:
        """``cache_dir``: keep the drawn frames of a finite video there (None, or an endless video: never)."""
        # OpenCV and the drawing code load with the first scene, not on import
        from streetsim.frame_cache import DrawnFrameCache
        from streetsim.world import World

        self.spec = spec
        self._world = World(int(spec.seed), int(spec.width), int(spec.height), spec.camera)
        self._cache: DrawnFrameCache | None = None
        if cache_dir is not None and spec.frames is not None:
            self._cache = DrawnFrameCache(spec, Path(cache_dir), GENERATOR_VERSION)

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
        t = index / float(self.spec.fps)
        world, cache = self._world, self._cache
        drawn = cache.get(index) if cache is not None else None
        if drawn is None:
            drawn = world.draw(t)
            if cache is not None:
                cache.add(index, *drawn)  # before the effects draw over the image
        image, labels = drawn
        return world.effects.apply(image, rng, t), labels

    def prepare(self) -> bool:
        """Draw every frame into the cache now, unless it holds them already; whether it does after.

        For a caller that wants every later ``render`` to unpack (a stream whose speed is measured
        from its first frame). A scene without a cache, or a finite video too long for one, returns False.
        """
        cache = self._cache
        if cache is None:
            return False
        if not cache.complete:
            fps = float(self.spec.fps)
            for index in range(len(self)):
                cache.add(index, *self._world.draw(index / fps))
        return cache.complete

    @property
    def cached(self) -> bool:
        """Whether every frame comes from the drawn-frame cache (no drawing)."""
        return self._cache is not None and self._cache.complete

    def close(self) -> None:
        """Let go of the cache's frames; frames not yet written to it are not written."""
        if self._cache is not None:
            self._cache.close()

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
