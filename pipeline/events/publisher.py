"""``QueuedPublisher``: sends zone events somewhere without ever making the pipeline wait.

An event handed to a publisher (``publisher(event)``, an ``EventHub`` listener) goes into a
bounded queue and returns at once; a thread of the publisher's own takes events in order and
``send``s them (a subclass: MQTT, a webhook), which may take as long as the network needs. A
full queue drops the newest event, counted. ``close`` lets the thread send what is queued for up
to ``flush_s``, then gives up on the rest (counted as undelivered) so that a run always ends.

``stats()``: ``sent``, ``dropped`` (queue full), ``failed`` (given up on after the retries),
``undelivered`` (still queued at the end), ``last_error``.
"""

from __future__ import annotations

import threading
from typing import Any

from pipeline.events.event import ZoneEvent
from pipeline.queues import BoundedQueue, DropPolicy, QueueClosed

POLL_S = 0.05  # how often a waiting send looks at whether it should give up


class QueuedPublisher:
    name = "publisher"

    def __init__(self, *, queue_size: int, flush_s: float) -> None:
        self.queue: BoundedQueue[ZoneEvent] = BoundedQueue(queue_size, DropPolicy.DROP_NEWEST, name=f"events:{self.name}")
        self.flush_s = flush_s
        self.sent = 0
        self.failed = 0
        self.undelivered = 0
        self.late = 0  # handed over after close
        self.last_error: str | None = None
        self.abandon = threading.Event()  # set: sends give up at once
        self._thread: threading.Thread | None = None

    # ---- what a subclass provides

    def connect(self) -> None:
        """Check the destination before the first frame; raise OutputError when it cannot be used."""

    def send(self, event: ZoneEvent) -> None:
        """Deliver one event (may block; return early when ``abandon`` is set); raise to count a failure."""
        raise NotImplementedError

    def disconnect(self) -> None:
        """Release the connection (after the last send)."""

    # ---- the queue and the thread

    def open(self) -> None:
        self.connect()
        self._thread = threading.Thread(target=self._run, name=f"segstream-{self.name}", daemon=True)
        self._thread.start()

    def __call__(self, event: ZoneEvent) -> None:
        try:
            self.queue.put(event)
        except QueueClosed:
            self.late += 1

    def _run(self) -> None:
        while True:
            try:
                event = self.queue.get()
            except QueueClosed:
                return
            if self.abandon.is_set():
                self.undelivered += 1
                continue
            try:
                self.send(event)
            except Exception as exc:  # noqa: BLE001 - counted and said in stats; the next event is tried
                if self.abandon.is_set():
                    self.undelivered += 1
                else:
                    self.failed += 1
                    self.last_error = str(exc)
            else:
                self.sent += 1

    def close(self) -> None:
        """Send what is queued (for up to ``flush_s``), give up on the rest, disconnect. Idempotent."""
        self.queue.close()
        thread = self._thread
        if thread is not None:
            thread.join(self.flush_s)
            if thread.is_alive():
                self.abandon.set()
                thread.join(self.flush_s + 1.0)
            self._thread = None
            self.disconnect()

    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = {"sent": self.sent, "dropped": self.queue.dropped + self.late, "failed": self.failed,
                                 "undelivered": self.undelivered}
        if self.last_error:
            stats["last_error"] = self.last_error
        return stats
