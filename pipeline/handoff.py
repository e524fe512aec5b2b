"""How the pipeline's threads hand items to each other, beyond a plain queue.

``take_batch`` gathers up to a batch from a queue with a bounded wait; a ``WorkerGroup`` lets
several threads run copies of one stage and still hand results on in the order taken; ``Credits``
bound the frames in flight on a live run; a ``Delivery`` fans one result out to every sink and
tells the last sink that the frame is done.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from pipeline.frame import SegResult
from pipeline.queues import Empty, QueueClosed


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
