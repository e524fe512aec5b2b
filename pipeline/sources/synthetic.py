"""The built-in synthetic street stream as a source: ``synthetic://street?seed=7&frames=300&...``.

Frames come from ``streetsim.StreetScene`` and carry their ground-truth labels, so
the pipeline can measure its accuracy end to end (streamed mIoU). Deterministic for a given URI.
It is a recording, not a camera (``is_live`` is False); ``source.pace: true`` replays it at its
fps like a live camera, ``source.loop: true`` repeats it.

Drawing a 1280×720 street costs more than decoding a video (~16 ms of CPU against ~3), so the
drawn frames of a finite stream (up to ``MAX_CACHED_PIXELS``: 600 frames of 1280×720, ~56 MB) are
kept on disk in ``source.synthetic_cache`` (default ``out/cache/synthetic`` under the working
folder; null: draw every time; ``streetsim.frame_cache``). ``open()`` draws them into it when the
file is missing — a few seconds for the demo, before the pipeline's clock starts — so every read
only unpacks a frame and applies the camera effects, and the run measures the pipeline, not the
drawing. The frames are the same bits either way.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from pipeline.config_schema import SourceConfig
from pipeline.frame import Frame
from pipeline.sources.base import SourceInfo
from segcore.redact import redact_uri

MAX_CACHED_PIXELS = 600 * 1280 * 720  # frames × width × height: bounds the file and the memory holding it


def cache_folder(spec: Any, setting: str | None) -> Path | None:
    """Where the drawn frames of ``spec`` (a ``streetsim.SyntheticSpec``) are kept; None: not kept."""
    if setting is None or spec.frames is None or spec.frames * spec.width * spec.height > MAX_CACHED_PIXELS:
        return None
    return Path(setting).expanduser()


class SyntheticSource:
    def __init__(self, uri: str, *, source_id: str = "synthetic", config: SourceConfig | None = None) -> None:
        self.uri = uri
        self.source_id = source_id
        self.loop = bool(config.loop) if config is not None else False
        self.cache_setting = (config or SourceConfig()).synthetic_cache
        self._scene: Any = None
        self._length: int | None = None
        self._info: SourceInfo | None = None
        self._index = 0
        self._closed = threading.Event()

    def open(self) -> SourceInfo:
        from segcore.labels import CITYSCAPES
        from streetsim import StreetScene, SyntheticSpec

        spec = SyntheticSpec.from_uri(self.uri)  # SourceError naming the bad parameter
        self._scene = StreetScene(spec, cache_dir=cache_folder(spec, self.cache_setting))
        self._scene.prepare()  # draws the frames once when the cache lacks them
        self._length = spec.frames  # None: endless
        self._info = SourceInfo(
            uri=redact_uri(self.uri),
            width=int(spec.width),
            height=int(spec.height),
            fps=float(spec.fps),
            frame_count=None if self.loop else self._length,
            is_live=False,
            codec="synthetic",
            label_names=CITYSCAPES.class_names,
        )
        return self._info

    @property
    def info(self) -> SourceInfo:
        if self._info is None:
            raise RuntimeError(f"source {self.source_id!r} is not open")
        return self._info

    def read(self) -> Frame | None:
        if self._scene is None or self._closed.is_set():
            return None
        position = self._index
        if self._length is not None and position >= self._length:
            if not self.loop:
                return None
            position %= self._length
        image, labels = self._scene.render(position)
        frame = Frame(
            image=image,
            source_id=self.source_id,
            index=self._index,
            pts=self._index / self.info.fps if self.info.fps else None,
            capture_time=time.monotonic(),
            labels=labels,
        )
        self._index += 1
        return frame

    def close(self) -> None:
        self._closed.set()
        if self._scene is not None:
            self._scene.close()

    def stats(self) -> dict[str, int | float | str]:
        return {"frames": self._index, "corrupt_frames": 0}
