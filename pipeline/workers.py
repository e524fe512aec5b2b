"""The bookkeeping shared by the pipeline's threads.

One slot per source, stage and sink thread (what it reads from, writes to and how it ended); the
ordered worker group that lets several threads run copies of one stage and still hand results on
in the order taken; the credits that bound the frames in flight on a live run; the delivery that
fans one result out to every sink; and the batched take from a queue (``take_batch``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pipeline.frame import Frame, SegResult
from pipeline.queues import BoundedQueue, Empty, QueueClosed
from pipeline.sinks.base import Sink
from pipeline.sources.base import Source, SourceInfo
from pipeline.stage import Stage


@dataclass(eq=False)
class SourceSlot:
    source: Source
    info: SourceInfo
    live: bool
    queue: BoundedQueue[Frame]
    pace_interval: float | None  # seconds between frames when pacing a recording like a camera
    thread: threading.Thread | None = None
    state: str = "open"  # open → reading → finished | stopped | failed
    frames_read: int = 0
    closing: bool = False


class WorkerGroup:
    """Several threads running copies of one stage (``runtime.infer_workers``), results kept in order.

    The workers take items in turn, each take numbered under one lock, and hand their results on
    strictly in take order: a result that finishes early waits in a small reorder buffer (at most
    one entry per worker) for the ones taken before it. The last worker to leave closes the
    outputs.
    """

    def __init__(self, workers: int) -> None:
        self._take_lock = threading.Lock()
        self._emit_lock = threading.Lock()
        self._taken = 0
        self._emitted = 0
        self._pending: dict[int, list[Any]] = {}
        self._active = workers

    def take(self, source: Any, count: int, timeout_s: float) -> tuple[list[Any], int]:
        with self._take_lock:
            items = take_batch(source, count, timeout_s)
            ticket = self._taken
            self._taken += 1
            return items, ticket

    def emit(self, ticket: int, outputs: list[Any], hand_on: Any) -> None:
        """Queue ``outputs`` of take ``ticket``; hand on every result whose turn has come, in order."""
        with self._emit_lock:
            self._pending[ticket] = outputs
            while self._emitted in self._pending:
                for out in self._pending.pop(self._emitted):
                    hand_on(out)
                self._emitted += 1

    def leave(self) -> bool:
        """One worker is done; True for the last one (which closes the outputs)."""
        with self._emit_lock:
            self._active -= 1
            return self._active == 0


class Credits:
    """At most ``limit`` frames between the first stage's take and the sinks (live runs).

    The first stage takes a frame from the capture queues only with a credit in hand; the credit
    comes back when every sink has written the frame. A stage that cannot hand on therefore never
    sits on a stale frame: while the pipeline is saturated, frames wait in the capture queue, where
    the newest one wins.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._used = 0
        self._closed = False
        self._cond = threading.Condition()

    def acquire(self) -> None:
        with self._cond:
            while self._used >= self.limit and not self._closed:
                self._cond.wait()
            if self._closed:
                raise QueueClosed("credits")
            self._used += 1

    def release(self) -> None:
        with self._cond:
            self._used = max(0, self._used - 1)
            self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


@dataclass(eq=False)
class StageSlot:
    stage: Stage
    input: Any  # BoundedQueue or RoundRobin: get(timeout) / QueueClosed / Empty
    outputs: list[BoundedQueue[Any]]
    last: bool = False
    thread: threading.Thread | None = None
    ready: threading.Event = field(default_factory=threading.Event)
    group: WorkerGroup | None = None  # set when several threads run copies of this stage
    credits: Credits | None = None  # set on the first stage of a live run with bounded frames in flight
    worker: int = 0  # 1, 2, ... for the threads of a worker group

    @property
    def thread_name(self) -> str:
        return f"stage:{self.stage.name}" + (f"-{self.worker}" if self.worker else "")


@dataclass(eq=False)
class SinkSlot:
    sink: Sink
    name: str
    queue: BoundedQueue[Delivery] | None = None
    thread: threading.Thread | None = None
    opened: bool = False


class Delivery:
    """One result on its way to every sink; the last sink to finish completes the frame."""

    __slots__ = ("result", "_remaining", "_lock")

    def __init__(self, result: SegResult, sinks: int) -> None:
        self.result = result
        self._remaining = sinks
        self._lock = threading.Lock()

    def done(self) -> bool:
        with self._lock:
            self._remaining -= 1
            return self._remaining == 0


def take_batch(source: Any, count: int, timeout_s: float) -> list[Any]:
    """One item (waiting as long as needed), then up to ``count`` in all within ``timeout_s``."""
    items = [source.get()]
    if count > 1:
        deadline = time.monotonic() + timeout_s
        while len(items) < count:
            try:
                items.append(source.get(timeout=max(0.0, deadline - time.monotonic())))
            except (Empty, QueueClosed):
                break
    return items


def name_sinks(sinks: Sequence[Sink]) -> list[SinkSlot]:
    slots, seen = [], set()
    for sink in sinks:
        name = str(getattr(sink, "name", type(sink).__name__.lower()))
        unique, n = name, 2
        while unique in seen:
            unique, n = f"{name}-{n}", n + 1
        seen.add(unique)
        slots.append(SinkSlot(sink, unique))
    return slots

