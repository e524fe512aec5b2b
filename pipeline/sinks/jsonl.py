"""JSONL sink (``--jsonl FILE``): one JSON object per frame, one line each.

A line::

    {"source": "clip", "index": 0, "pts": 0.0, "capture_time": 1234.5678, "width": 1280, "height": 720,
     "latency_ms": {"e2e": 41.2, "preprocess": 2.1, "infer": 14.0, ...},
     "fractions": {"road": 0.312, "sidewalk": 0.041, ...}}

``pts`` is the source's presentation time in seconds (null when it has none); ``capture_time`` is
``time.monotonic()`` when the frame was read; ``latency_ms`` holds ``SegResult.timings_ms``
(end to end and per stage); ``fractions`` gives the share of the frame's pixels per class name.
The file is line-buffered: each record reaches the OS as one complete line when written, so the file
holds valid JSON lines up to the last frame even after a crash.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from pipeline.frame import SegResult
from pipeline.sinks.naming import check_not_input, prepare_parent
from pipeline.sources.base import SourceInfo
from segcore.errors import OutputError


def _number(value: float | None, digits: int) -> float | None:
    """``value`` rounded, or None where JSON has no number for it (None, NaN, infinity)."""
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), digits)


class JsonlSink:
    name = "jsonl"

    def __init__(self, path: str | Path, *, class_names: Sequence[str], inputs: Iterable[str] = ()) -> None:
        self.path = Path(path)
        self.class_names = list(class_names)
        check_not_input(self.path, inputs, "jsonl output")
        self._file: IO[str] | None = None
        self._lock = threading.Lock()
        self._written = 0

    def open(self, sources: Mapping[str, SourceInfo]) -> None:
        prepare_parent(self.path, "jsonl output")
        try:
            self._file = open(self.path, "w", encoding="utf-8", buffering=1)  # noqa: SIM115 (kept open until close); line-buffered
        except OSError as exc:
            raise OutputError(f"cannot write jsonl output {self.path}: {exc.strerror}") from None

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
        line = json.dumps(self.record(result), allow_nan=False) + "\n"
        with self._lock:
            if self._file is None:
                return
            self._file.write(line)
            self._written += 1

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def stats(self) -> dict[str, int]:
        return {"frames": self._written}
