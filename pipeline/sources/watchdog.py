"""One capture object on one daemon thread, so that a stuck ``read()`` can be abandoned.

A stalled RTSP ``cv2.VideoCapture.read()`` can block for tens of seconds, and a capture must not
be released from another thread while it reads. So every capture lives its whole life on its own
``CaptureReader`` thread: the thread connects, reads until it fails or is cancelled, and releases
the capture itself. The owner (``pipeline.sources.live.LiveSource``) never waits on that thread:
when the stall watchdog fires it calls ``abandon()`` and starts a fresh reader with a fresh
capture. The abandoned thread ends on its own when its blocked call returns (bounded by the
capture's read timeout); until then the owner counts it, and caps how many may pile up.

Every reader thread still running is listed process-wide (``running_captures``), and a host that
is about to end the process can wait for them (``wait_for_captures``). That matters: a daemon
thread that is inside OpenCV or FFmpeg while Python 3.11 finalises is ended by ``pthread_exit``,
whose unwinding through OpenCV's C++ frames aborts the process ("FATAL: exception not rethrown",
exit 134; measured against a live RTSP server). A reader that is not stuck ends within one frame
of being abandoned; one blocked in a connect or a frozen read cannot be interrupted, and the host
must either wait for it (up to the capture's timeouts) or end the process without finalising.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from segcore.redact import redact_text

log = logging.getLogger(__name__)

_running: set[CaptureReader] = set()  # reader threads started and not yet ended, process-wide
_running_lock = threading.Lock()


def running_captures() -> list[str]:
    """The names of the capture threads still running in this process (possibly inside native code)."""
    with _running_lock:
        return sorted(reader.name for reader in _running)


def wait_for_captures(timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for every capture thread to end; whether they all did."""
    deadline = time.monotonic() + timeout
    with _running_lock:
        readers = list(_running)
    for reader in readers:
        reader.join(max(0.0, deadline - time.monotonic()))
    with _running_lock:
        return not _running


@dataclass(frozen=True)
class StreamProperties:
    """What a freshly connected capture says about its stream (the frame size comes from frames)."""

    fps: float | None = None
    codec: str | None = None
    frame_count: int | None = None  # None for live streams; a count means a finite stream


class Capture(Protocol):
    """An opened capture, used by one thread only."""

    def read(self) -> tuple[bool, np.ndarray | None]:
        """The next decoded frame; ``(False, None)`` when the stream failed or ended. May block."""
        ...

    def position_s(self) -> float | None:
        """The last frame's presentation time on the stream's own timeline, when known."""
        ...

    def properties(self) -> StreamProperties: ...

    def release(self) -> None: ...


class ConnectError(Exception):
    """A connection attempt failed. The message says why and never holds credentials."""


class ReaderOwner(Protocol):
    """What a ``CaptureReader`` reports to. Called on the reader's thread."""

    def reader_opened(self, reader: CaptureReader, properties: StreamProperties) -> None: ...

    def reader_frame(
        self, reader: CaptureReader, image: np.ndarray | None, arrived: float, pts: float | None
    ) -> None: ...

    def reader_failed(self, reader: CaptureReader, reason: str, end_of_stream: bool) -> None: ...


class CaptureReader:
    """Connects with ``connect()`` and reads on a daemon thread until it fails or is abandoned."""

    def __init__(self, connect: Callable[[], Capture], owner: ReaderOwner, name: str) -> None:
        self._connect = connect
        self._owner = owner
        self._cancelled = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.name = name
        self.started_at = 0.0

    def start(self) -> CaptureReader:
        self.started_at = time.monotonic()
        with _running_lock:
            _running.add(self)
        try:
            self._thread.start()
        except BaseException:
            self._ended()
            raise
        return self

    def abandon(self) -> None:
        """Stop reporting and release the capture as soon as the blocked call returns. Never waits."""
        self._cancelled.set()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def join(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the thread to end; whether it did."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        try:
            self._connect_and_read()
        finally:
            self._ended()

    def _ended(self) -> None:
        with _running_lock:
            _running.discard(self)

    def _connect_and_read(self) -> None:
        try:
            capture = self._connect()
        except ConnectError as exc:
            self._owner.reader_failed(self, redact_text(str(exc)), False)
            return
        except Exception as exc:  # a thread boundary: report whatever the capture library raised
            self._owner.reader_failed(self, redact_text(f"connect raised {type(exc).__name__}: {exc}"), False)
            return
        try:
            self._read_until_done(capture)
        except Exception as exc:  # a thread boundary, as above
            self._owner.reader_failed(self, redact_text(f"read raised {type(exc).__name__}: {exc}"), False)
        finally:
            try:
                capture.release()
            except Exception as exc:  # releasing a broken capture may fail; nothing left to do
                log.debug("releasing a capture failed: %s", redact_text(str(exc)))

    def _read_until_done(self, capture: Capture) -> None:
        if self._cancelled.is_set():
            return
        properties = capture.properties()
        self._owner.reader_opened(self, properties)
        frames = 0
        while not self._cancelled.is_set():
            ok, image = capture.read()
            arrived = time.monotonic()
            if self._cancelled.is_set():
                return
            if not ok:
                ended = properties.frame_count is not None and frames > 0
                reason = "end of stream" if ended else "read failed (connection lost or stream ended)"
                self._owner.reader_failed(self, reason, ended)
                return
            frames += 1
            self._owner.reader_frame(self, image, arrived, capture.position_s())
