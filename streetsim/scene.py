"""The frames of one synthetic street video, as a pure function of (spec, frame index).

``StreetScene(spec).render(i)`` returns ``(image BGR uint8 H×W×3, labels uint8 H×W)`` for frame
``i``: a procedurally generated street (road, lane markings, kerbs, sidewalks, buildings with
windows, poles, traffic signs, trees, grass, sky; parked and moving cars, trucks, buses; walking
people) seen by a moving dashcam or by a fixed surveillance camera, under day/dusk/night light and
clear/overcast/fog/rain weather, with blur, sensor noise and JPEG artefacts. Frames can be
rendered in any order. Labels are Cityscapes train IDs (``segcore.labels.CITYSCAPES``), 255 =
ignore (objects too small to resolve). See docs/synthetic-data.md.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from streetsim.spec import SyntheticSpec

# bumped whenever the same (spec, index) renders differently: caches of rendered frames key on it
GENERATOR_VERSION = 6


class StreetScene:
    """The frames of one synthetic video; ``render(i)`` is deterministic and random-access.

    A scene memoises the street it has built, so it is not thread-safe: use one per thread
    (scenes in different threads are fine; the tiles they share are locked).
    """

    def __init__(self, spec: SyntheticSpec) -> None:
        # OpenCV and the drawing code load with the first scene, not on import
        from streetsim.world import World

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
