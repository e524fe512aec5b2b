"""Run metrics with bounded memory: latency histograms, fps, streamed accuracy.

Everything here is fixed-size, so a run of days costs the same memory as a run of seconds:
latencies go into log-spaced histograms (1 µs … ~1000 s, 5 % wide buckets, percentiles accurate
to a few per cent), recent fps comes from a ring of the last completion times, and accuracy is a
K×K confusion matrix (``segcore.accuracy.ConfusionMatrix``, the evaluator's own class).

All methods are thread-safe; ``snapshot()`` may be called from any thread while the run goes on.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

import numpy as np

from segcore.accuracy import ConfusionMatrix

PERCENTILES = (50, 95, 99)


class LatencyHistogram:
    """Fixed-size histogram of durations in milliseconds, with log-spaced buckets."""

    MIN_MS = 1e-3
    RATIO = 1.05
    BUCKETS = 430  # 1e-3 · 1.05**430 ≈ 1.3e6 ms

    def __init__(self) -> None:
        self.counts = np.zeros(self.BUCKETS + 2, dtype=np.int64)  # [underflow, buckets..., overflow]
        self.count = 0
        self.total = 0.0
        self.min = math.inf
        self.max = 0.0
        self._log_ratio = math.log(self.RATIO)

    def record(self, ms: float) -> None:
        if not ms >= 0.0:  # NaN or negative (clock skew in host timestamps): clamp to zero
            ms = 0.0
        if ms < self.MIN_MS:
            index = 0
        else:
            index = min(self.BUCKETS + 1, 1 + int(math.log(ms / self.MIN_MS) / self._log_ratio))
        self.counts[index] += 1
        self.count += 1
        self.total += ms
        self.min = min(self.min, ms)
        self.max = max(self.max, ms)

    def _edge(self, index: int) -> float:
        return self.MIN_MS * self.RATIO ** (index - 1)

    def percentile(self, q: float) -> float | None:
        """The q-th percentile (0–100), interpolated inside its bucket; None when empty."""
        if self.count == 0:
            return None
        rank = q / 100.0 * self.count
        cumulative = np.cumsum(self.counts)
        index = int(np.searchsorted(cumulative, max(rank, 1e-9)))
        index = min(index, len(self.counts) - 1)
        if index == 0:
            return min(self.MIN_MS, self.max)
        if index == self.BUCKETS + 1:
            return self.max
        before = cumulative[index - 1] if index > 0 else 0
        inside = self.counts[index]
        lo, hi = self._edge(index), self._edge(index + 1)
        value = lo + (hi - lo) * ((rank - before) / inside if inside else 0.5)
        return float(min(max(value, self.min), self.max))

    def summary(self) -> dict[str, float | None]:
        return {f"p{q}": _round(self.percentile(q)) for q in PERCENTILES}

    def cumulative(self, bounds_ms: Sequence[float]) -> list[int]:
        """For each bound (ascending, ms), how many durations fell in buckets that end at or below
        it: the ``le`` counts of a Prometheus histogram, exact to within one bucket (5 %)."""
        cumulative = np.cumsum(self.counts)
        found = []
        for bound in bounds_ms:
            if bound < self.MIN_MS:
                found.append(0)
                continue
            # bucket i (1-based) holds [edge(i), edge(i + 1)); the buckets ending at or below bound
            last = min(self.BUCKETS, int(math.log(bound / self.MIN_MS) / self._log_ratio + 1e-9))
            found.append(int(cumulative[last]))
        return found

    def copy(self) -> LatencyHistogram:
        other = LatencyHistogram()
        other.merge(self)
        return other

    def merge(self, other: LatencyHistogram) -> None:
        self.counts += other.counts
        self.count += other.count
        self.total += other.total
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)

    @property
    def mean(self) -> float | None:
        return self.total / self.count if self.count else None


class RateMeter:
    """Events per second over the last ``window`` events (a fixed ring of timestamps)."""

    def __init__(self, window: int = 64) -> None:
        self._times: deque[float] = deque(maxlen=window)

    def tick(self, now: float) -> None:
        self._times.append(now)

    def rate(self, now: float | None = None, *, idle_after: float = 2.0) -> float:
        if len(self._times) < 2:
            return 0.0
        now = time.monotonic() if now is None else now
        if now - self._times[-1] > idle_after:  # nothing recently: the rate has fallen to zero
            return 0.0
        span = self._times[-1] - self._times[0]
        return (len(self._times) - 1) / span if span > 0 else 0.0


class _SourceMetrics:
    def __init__(self) -> None:
        self.frames = 0
        self.e2e = LatencyHistogram()
        self.rate = RateMeter()
        self.confusion: ConfusionMatrix | None = None
        self.labelled = 0


class Metrics:
    """Latency per stage and end to end, frames and fps per source, streamed mIoU."""

    def __init__(self, class_names: Sequence[str] = ()) -> None:
        self.class_names = list(class_names)
        self._lock = threading.Lock()
        self._stages: dict[str, LatencyHistogram] = {}
        self._e2e = LatencyHistogram()
        self._rate = RateMeter()
        self._sources: dict[str, _SourceMetrics] = {}
        self._confusion: ConfusionMatrix | None = None
        self.frames = 0
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self.last_done_at: float | None = None

    def start(self, now: float | None = None) -> None:
        with self._lock:
            self.started_at = time.monotonic() if now is None else now

    def finish(self, now: float | None = None) -> None:
        with self._lock:
            if self.finished_at is None:
                self.finished_at = time.monotonic() if now is None else now

    def _source(self, source_id: str) -> _SourceMetrics:
        found = self._sources.get(source_id)
        if found is None:
            found = self._sources[source_id] = _SourceMetrics()
        return found

    def add_source(self, source_id: str) -> None:
        with self._lock:
            self._source(source_id)

    def record_stage(self, stage: str, ms: float) -> None:
        with self._lock:
            histogram = self._stages.get(stage)
            if histogram is None:
                histogram = self._stages[stage] = LatencyHistogram()
            histogram.record(ms)

    def add_confusion(self, source_id: str, matrix: np.ndarray) -> None:
        """Add one frame's K×K confusion counts (rows: labels, columns: predictions)."""
        with self._lock:
            k = matrix.shape[0]
            if self._confusion is None:
                self._confusion = ConfusionMatrix(k)
            source = self._source(source_id)
            if source.confusion is None:
                source.confusion = ConfusionMatrix(k)
            self._confusion.matrix += matrix
            source.confusion.matrix += matrix
            source.labelled += 1

    def frame_done(self, source_id: str, e2e_ms: float, now: float | None = None) -> None:
        """A frame has been written by every sink, ``e2e_ms`` after it was captured."""
        now = time.monotonic() if now is None else now
        with self._lock:
            self.frames += 1
            self.last_done_at = now
            self._e2e.record(e2e_ms)
            self._rate.tick(now)
            source = self._source(source_id)
            source.frames += 1
            source.e2e.record(e2e_ms)
            source.rate.tick(now)

    def _elapsed(self, now: float) -> float:
        if self.started_at is None:
            return 0.0
        end = self.finished_at if self.finished_at is not None else now
        return max(0.0, end - self.started_at)

    def _accuracy(self, confusion: ConfusionMatrix | None) -> dict[str, Any]:
        if confusion is None or confusion.total == 0:
            return {}
        names = self.class_names if len(self.class_names) == confusion.num_classes else None
        summary = confusion.summary(names)
        return {"miou": _round(summary["miou"], 4), "pixel_accuracy": _round(summary["pixel_accuracy"], 4),
                "per_class_iou": {k: _round(v, 4) for k, v in summary["per_class_iou"].items()}}

    def snapshot(self, now: float | None = None) -> dict[str, Any]:
        """A JSON-ready view: frames, fps, latencies, accuracy, per-source sections."""
        now = time.monotonic() if now is None else now
        with self._lock:
            elapsed = self._elapsed(now)
            finished = self.finished_at is not None
            span_end = self.last_done_at if finished and self.last_done_at is not None else now
            span = (span_end - self.started_at) if self.started_at is not None else 0.0
            data: dict[str, Any] = {
                "frames": self.frames,
                "elapsed_s": _round(elapsed, 3),
                "fps": _round(self.frames / span, 2) if span > 0 else 0.0,
                "fps_recent": _round(self._rate.rate(now), 2),
                "stage_latency_ms": {name: h.summary() for name, h in self._stages.items()},
                "e2e_latency_ms": self._e2e.summary(),
            }
            accuracy = self._accuracy(self._confusion)
            if accuracy:
                data.update(accuracy)
                data["labelled_frames"] = sum(s.labelled for s in self._sources.values())
            sources: dict[str, Any] = {}
            for source_id, source in self._sources.items():
                section: dict[str, Any] = {
                    "frames": source.frames,
                    "fps": _round(source.frames / span, 2) if span > 0 else 0.0,
                    "fps_recent": _round(source.rate.rate(now), 2),
                    "e2e_latency_ms": source.e2e.summary(),
                }
                source_accuracy = self._accuracy(source.confusion)
                if source_accuracy:
                    section["miou"] = source_accuracy["miou"]
                    section["labelled_frames"] = source.labelled
                sources[source_id] = section
            data["sources"] = sources
            return data

    def histograms(self) -> dict[str, dict[str, LatencyHistogram]]:
        """Copies of the latency histograms: ``{"stage": {stage: h}, "e2e": {source_id: h}}``, for
        an exporter (Prometheus) that reads them off the data path."""
        with self._lock:
            return {
                "stage": {name: h.copy() for name, h in self._stages.items()},
                "e2e": {source_id: s.e2e.copy() for source_id, s in self._sources.items()},
            }

    def hud_values(self, now: float | None = None) -> tuple[float, float | None]:
        """(recent fps, e2e p50 ms) for the HUD: cheap enough to call a few times a second."""
        now = time.monotonic() if now is None else now
        with self._lock:
            return self._rate.rate(now), self._e2e.percentile(50)


def _round(value: float | None, digits: int = 2) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return round(float(value), digits)
