"""``EventHub``: zone events fanned out to listeners, safe to use from any thread.

The listener interface (for the JSONL sink, the publishers, an HTTP server, a host's code)::

    unsubscribe = hub.subscribe(listener)    # listener(event: ZoneEvent) -> None
    hub.active()                              # the events under way now (their last start/update)
    hub.recent()                              # the last events, oldest first
    hub.wait_closed(timeout)                  # True once the run's last event was published
    unsubscribe()

Listeners are called on the zone sink's own thread, in the order events happen (per source, in
frame order); a listener must return at once (queue the event, do not send it). One that raises
is counted (``stats()['listener_errors']``, with the last error) and stays subscribed: events are
never held back because one listener broke.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from pipeline.events.event import ZoneEvent

Listener = Callable[[ZoneEvent], object]
RECENT = 100  # events kept for late subscribers (a page that opens mid-run)


class EventHub:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []
        self._active: dict[str, ZoneEvent] = {}  # event id → its last start/update
        self._recent: deque[ZoneEvent] = deque(maxlen=RECENT)
        self._open = False
        self._closed = threading.Event()
        self._closed.set()  # nothing to wait for until a producer opens the hub
        self.published = 0
        self.listener_errors = 0
        self.last_listener_error: str | None = None

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(event)`` for every event from now on; returns the function that stops it."""
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def open(self) -> None:
        """A producer starts: ``wait_closed`` now waits for its ``close``."""
        with self._lock:
            self._open = True
            self._closed.clear()

    def publish(self, event: ZoneEvent) -> None:
        with self._lock:
            listeners = list(self._listeners)
            self.published += 1
            self._recent.append(event)
            if event.type == "end":
                self._active.pop(event.id, None)
            else:
                self._active[event.id] = event
        for listener in listeners:
            try:
                listener(event)
            except Exception as exc:  # noqa: BLE001 - one broken listener must not stop the others
                with self._lock:
                    self.listener_errors += 1
                    self.last_listener_error = f"{getattr(listener, '__qualname__', listener)}: {exc}"

    def close(self) -> None:
        """The producer is done: no event follows."""
        with self._lock:
            self._open = False
        self._closed.set()

    def wait_closed(self, timeout: float | None = None) -> bool:
        return self._closed.wait(timeout)

    def active(self) -> list[ZoneEvent]:
        with self._lock:
            return list(self._active.values())

    def recent(self) -> list[ZoneEvent]:
        with self._lock:
            return list(self._recent)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            stats: dict[str, Any] = {"events": self.published, "active": len(self._active),
                                     "listener_errors": self.listener_errors}
            if self.last_listener_error:
                stats["last_listener_error"] = self.last_listener_error
            return stats
