"""What the Triton engines of one run saw of their server, shared by the run's inference workers."""

from __future__ import annotations

import threading
from typing import Any


class ServerHealth:
    """Counts the server's outages (every worker waiting on it counts one outage once), the requests
    sent again, and the time spent waiting; ``snapshot()`` is the summary's ``model.server``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.outages = 0  # times the server stopped answering (while no worker was already waiting)
        self.retries = 0  # requests sent again
        self.waited_s = 0.0  # worker-seconds spent waiting for the server
        self.waiting = 0  # workers waiting for it now
        self.failures = 0  # requests given up after retry_for_s
        self.interrupted = threading.Event()  # set when the run stops without draining: waiting ends

    def interrupt(self) -> None:
        """End every wait for the server now and refuse new ones (the run is stopping)."""
        self.interrupted.set()

    def begin_wait(self) -> None:
        with self._lock:
            if self.waiting == 0:
                self.outages += 1
            self.waiting += 1

    def retry(self) -> None:
        with self._lock:
            self.retries += 1

    def end_wait(self, seconds: float, *, failed: bool = False) -> None:
        with self._lock:
            self.waiting -= 1
            self.waited_s += seconds
            self.failures += int(failed)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"state": "waiting for the server" if self.waiting else "answering", "outages": self.outages,
                    "retries": self.retries, "waited_s": round(self.waited_s, 3), "failed_requests": self.failures}
