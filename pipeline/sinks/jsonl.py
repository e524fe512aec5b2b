"""JSONL sink (``--jsonl FILE``): one JSON object per frame, one line each.

A line::

    {"source": "clip", "index": 0, "pts": 0.0, "capture_time": 1234.5678, "width": 1280, "height": 720,
     "latency_ms": {"e2e": 41.2, "preprocess": 2.1, "infer": 14.0, ...},
     "fractions": {"road": 0.312, "sidewalk": 0.041, ...}}

``pts`` is the source's presentation time in seconds (null when it has none); ``capture_time`` is
``time.monotonic()`` when the frame was read; ``latency_ms`` holds ``SegResult.timings_ms``
(end to end and per stage); ``fractions`` gives the share of the frame's pixels per class name.
Each record reaches the OS as one complete line when written, so the file holds valid JSON lines
up to the last frame even after a crash. A write that fails (a full disk, a file size limit) is
cut back to the last whole line, so the file still holds only valid lines, and the sink fails
saying how many it holds. A file that ends up with no line is removed (nothing is claimed for it).

With zones (``events``: the zone sink's ``EventHub``), each zone event is a line of its own, written
when it happens: ``{"event": {"type": "start", "id": ..., "source": ..., "zone": ..., "class": ...,
"fraction": ..., "pts": ..., "index": ..., "wall_time": ..., "duration_s": ...}}`` (the object
``pipeline.events.event`` describes; its ``index`` is the frame's). Frame lines never have an
``event`` key. The file is closed only after the last event (at most ``EVENTS_WAIT_S`` later).
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import stat
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from pipeline.events.event import ZoneEvent
from pipeline.events.hub import EventHub
from pipeline.frame import SegResult
from pipeline.sinks.failures import write_failure
from pipeline.sinks.naming import check_not_input, prepare_parent, remove_empty_folders
from pipeline.sources.base import SourceInfo
from segcore.errors import OutputError

EVENTS_WAIT_S = 30.0  # at close: the longest wait for the zone sink's last event

def _number(value: float | None, digits: int) -> float | None:
    """``value`` rounded, or None where JSON has no number for it (None, NaN, infinity)."""
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), digits)


class JsonlSink:
    name = "jsonl"

    def __init__(
        self, path: str | Path, *, class_names: Sequence[str], inputs: Iterable[str] = (), events: EventHub | None = None
    ) -> None:
        self.path = Path(path)
        self.events = events
        self._unsubscribe: Callable[[], None] | None = None
        self._event_lines = 0
        self._failure: OutputError | None = None
        self.class_names = list(class_names)
        check_not_input(self.path, inputs, "jsonl output")
        self._file: IO[bytes] | None = None
        self._lock = threading.Lock()
        self._written = 0
        self._size = 0  # bytes of whole lines in the file
        self._regular = True  # False for a pipe or device (``/dev/stdout``): never cut or removed
        self._created: list[Path] = []

    def open(self, sources: Mapping[str, SourceInfo]) -> None:
        self._created = prepare_parent(self.path, "jsonl output")
        try:
            self._file = open(self.path, "wb", buffering=0)  # noqa: SIM115 (kept open until close); unbuffered
        except OSError as exc:
            raise OutputError(f"cannot write jsonl output {self.path}: {exc.strerror}") from None
        self._regular = stat.S_ISREG(os.fstat(self._file.fileno()).st_mode)
        if self.events is not None and self._unsubscribe is None:
            self._unsubscribe = self.events.subscribe(self.write_event)

    def add_source(self, source_id: str, info: SourceInfo) -> None:
        """A source joined the running pipeline: its records go to the same file (each names its source)."""

    def remove_source(self, source_id: str) -> None:
        """A source left the running pipeline: nothing kept for it."""

    def record(self, result: SegResult) -> dict[str, Any]:
        frame = result.frame
        names = self.class_names
        return {
            "source": frame.source_id,
            "index": frame.index,
            "pts": _number(frame.pts, 6),
            "capture_time": _number(frame.capture_time, 6),
            "width": frame.width,
            "height": frame.height,
            "latency_ms": {stage: _number(ms, 3) for stage, ms in result.timings_ms.items()},
            "fractions": {
                (names[k] if k < len(names) else f"class_{k}"): _number(float(value), 6)
                for k, value in enumerate(result.fractions)
            },
        }

    def write(self, result: SegResult) -> None:
        self._write_line(self.record(result))

    def write_event(self, event: ZoneEvent) -> None:
        """A zone event as a line of its own (an ``EventHub`` listener: any thread)."""
        self._write_line({"event": event.to_dict()}, event=True)

    def _write_line(self, record: dict[str, Any], event: bool = False) -> None:
        line = (json.dumps(record, allow_nan=False) + "\n").encode()
        with self._lock:
            if self._file is None:
                if self._failure is not None:  # an event line failed: the frame lines fail too, never vanish
                    raise self._failure
                return
            try:
                view = memoryview(line)
                while view:  # an unbuffered write may take only part of the line
                    taken = self._file.write(view)
                    if not taken:
                        raise OSError(errno.EIO, "the file took no more bytes")
                    view = view[taken:]
            except OSError as exc:
                if self._regular:
                    with contextlib.suppress(OSError):
                        self._file.truncate(self._size)  # drop the partial line
                self._end()
                held = f"it holds the first {self._written} records" if self._written else "it was removed"
                self._failure = OutputError(f"cannot write jsonl output {self.path}: {write_failure(exc)}; {held}")
                raise self._failure from exc
            self._size += len(line)
            if event:
                self._event_lines += 1
            else:
                self._written += 1

    def close(self) -> None:
        if self._unsubscribe is not None and self.events is not None:
            self.events.wait_closed(EVENTS_WAIT_S)  # the zone sink ends the events under way as it closes
            self._unsubscribe()
            self._unsubscribe = None
        with self._lock:
            self._end()

    def _end(self) -> None:
        """Close the file (the lock held); remove it, and the folders open() made, if it holds no line."""
        if self._file is None:
            return
        with contextlib.suppress(OSError):
            self._file.close()
        self._file = None
        if not (self._written or self._event_lines) and self._regular:
            with contextlib.suppress(OSError):
                self.path.unlink()
            remove_empty_folders(self._created)

    def outputs(self) -> list[dict[str, Any]]:
        """The file written, if it exists, with the records it holds."""
        if not self._written:
            return []
        return [{"kind": "jsonl", "path": str(self.path), "frames": self._written, "events": self._event_lines}]

    def stats(self) -> dict[str, int]:
        return {"frames": self._written, "events": self._event_lines}
