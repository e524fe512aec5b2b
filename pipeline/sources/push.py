"""A source the host feeds itself: ``push(image)`` from any thread, frames flow into the pipeline.

For embedding segstream in an application that already has its frames (its own camera driver,
a ROS callback, a GStreamer appsink). The host's timestamps are kept: ``pts`` is passed through
untouched to ``SegResult.frame.pts`` (any clock, any unit the host likes), and ``capture_time``
(``time.monotonic()`` clock) starts the end-to-end latency, defaulting to the moment of the push.

``push`` copies the image (and the labels) by default, so the host may reuse or overwrite its
buffer as soon as ``push`` returns: a result always belongs to the image pushed with its index and
``pts``. A host that hands the buffer over for good (a fresh array per frame that it never touches
again) may pass ``copy=False`` to save the copy (a memory copy: 0.4 ms for a 1080p frame on a 2-core CPU here); the pipeline then
reads that array until the frame's result is delivered, and an array changed meanwhile yields the
segmentation of whatever it holds by then.

``live=True`` (the default) behaves like a camera: the pipeline keeps the newest frame and drops
older ones when it falls behind, and ``push`` never blocks. ``live=False`` processes every frame:
``push`` blocks while the pipeline is busy (back-pressure to the host).
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import numpy as np

from pipeline.frame import Frame
from pipeline.queues import BoundedQueue, DropPolicy, QueueClosed
from pipeline.sources.base import SourceInfo
from segcore.errors import SourceError


class PushSource:
    def __init__(
        self,
        source_id: str = "push",
        *,
        width: int = 0,
        height: int = 0,
        fps: float | None = None,
        live: bool = True,
        capacity: int | None = None,
    ) -> None:
        self.source_id = source_id
        policy = DropPolicy.DROP_OLDEST if live else DropPolicy.BLOCK
        self._queue: BoundedQueue[Frame] = BoundedQueue(capacity or (1 if live else 4), policy, name=f"push:{source_id}")
        self._info = SourceInfo(
            uri=f"push://{source_id}", width=width, height=height, fps=fps, frame_count=None, is_live=live
        )
        self._lock = threading.Lock()
        self._next_index = 0
        self._ended = False

    def open(self) -> SourceInfo:
        return self._info

    @property
    def info(self) -> SourceInfo:
        return self._info

    def push(
        self,
        image: np.ndarray,
        pts: float | None = None,
        *,
        capture_time: float | None = None,
        labels: np.ndarray | None = None,
        timeout: float | None = None,
        copy: bool = True,
    ) -> int | None:
        """Queue one H×W×3 uint8 BGR frame; return its index, or None if it was refused.

        ``copy=True`` (the default) queues a copy, so the host may reuse ``image`` (and ``labels``)
        at once; ``copy=False`` queues the host's own array, which it must then leave untouched.
        Raises SourceError for an image of the wrong shape or type, or after ``end()``/``close()``.
        """
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            shape = getattr(image, "shape", None)
            dtype = getattr(image, "dtype", type(image).__name__)
            raise SourceError(f"push source {self.source_id!r}: expected an H×W×3 uint8 BGR image, got {dtype} {shape}")
        if labels is not None and labels.shape != image.shape[:2]:
            raise SourceError(f"push source {self.source_id!r}: labels {labels.shape} do not match the image {image.shape[:2]}")
        with self._lock:
            if self._ended:
                raise SourceError(f"push source {self.source_id!r} has ended; create a new one to push more")
            index = self._next_index
            self._next_index += 1
            if self._info.width == 0 or self._info.height == 0:
                self._info = replace(self._info, width=int(image.shape[1]), height=int(image.shape[0]))
        if copy:
            image = image.copy()
            labels = None if labels is None else labels.copy()
        frame = Frame(
            image=image,
            source_id=self.source_id,
            index=index,
            pts=pts,
            capture_time=time.monotonic() if capture_time is None else float(capture_time),
            labels=labels,
        )
        try:
            return index if self._queue.put(frame, timeout=timeout) else None
        except QueueClosed:
            raise SourceError(f"push source {self.source_id!r} has ended; create a new one to push more") from None

    def end(self) -> None:
        """No more frames: the pipeline finishes the queued ones and this source ends."""
        with self._lock:
            self._ended = True
        self._queue.close()

    def read(self) -> Frame | None:
        try:
            return self._queue.get()
        except QueueClosed:
            return None

    def close(self) -> None:
        self.end()
        self._queue.clear()

    def stats(self) -> dict[str, int | float | str]:
        queue = self._queue.stats()
        return {
            "frames": self._next_index,
            "dropped_at_push": int(queue["dropped"]),
            "corrupt_frames": 0,
        }
