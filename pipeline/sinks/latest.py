"""A sink that keeps only the newest result, for hosts that poll (a UI, a control loop)."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping

from pipeline.frame import SegResult
from pipeline.sources.base import SourceInfo


class LatestSink:
    """Holds the newest result overall and per source; older ones are simply replaced.

    ``latest()`` returns at once; ``wait(timeout)`` blocks until a result newer than the last one
    this sink handed out arrives (or the pipeline ends: then it returns None). Safe to call from
    any thread.
    """

    def __init__(self, *, name: str = "latest") -> None:
        self.name = name
        self._cond = threading.Condition()
        self._latest: SegResult | None = None
        self._by_source: dict[str, SegResult] = {}
        self._count = 0
        self._seen = 0
        self._closed = False

    def open(self, sources: Mapping[str, SourceInfo]) -> None:
        with self._cond:
            self._closed = False

    def write(self, result: SegResult) -> None:
        with self._cond:
            self._latest = result
            self._by_source[result.frame.source_id] = result
            self._count += 1
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def add_source(self, source_id: str, info: SourceInfo) -> None:
        """A source joined the running pipeline: its results are kept like the others'."""

    def remove_source(self, source_id: str) -> None:
        """A source left the running pipeline: ``latest(source_id)`` keeps its last result."""

    @property
    def count(self) -> int:
        """How many results have been written so far."""
        return self._count

    def latest(self, source_id: str | None = None) -> SegResult | None:
        """The newest result (of ``source_id`` if given), or None if there is none yet."""
        with self._cond:
            return self._latest if source_id is None else self._by_source.get(source_id)

    def wait(self, timeout: float | None = None) -> SegResult | None:
        """Block until a result newer than the last one returned here; None on timeout or close."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._count <= self._seen and not self._closed:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._cond.wait(remaining)
            if self._count <= self._seen:
                return None
            self._seen = self._count
            return self._latest
