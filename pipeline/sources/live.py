"""A Source over a live capture: it reconnects, watches for stalls and never invents frames.

``LiveSource`` drives a ``ReconnectMachine`` (``pipeline.sources.reconnect``) with captures that
each run on their own ``CaptureReader`` thread (``pipeline.sources.watchdog``). Network streams
and webcams differ only in the ``connect`` callable they pass in.

Behaviour a caller can rely on:

- ``open()`` starts the first connection and waits up to ``open_timeout_s`` + 1 s for its first
  frame. Connected: the returned ``SourceInfo`` has the real size. Not connected and reconnect
  enabled: it returns ``SourceInfo`` with ``width == height == 0`` and the source keeps retrying
  (or, when its attempts already ran out, fails at the first ``read()``: the same outcome however
  fast the attempts ran out); the size arrives with the first frame (``info`` is updated).
  Reconnect disabled: ``SourceError``. ``close()`` from another thread ends the wait at once (no
  error). So ``open()`` never blocks longer than ``open_timeout_s`` + 1 s.
- ``read()`` returns the newest frame really decoded since the previous call. While the stream is
  down it waits, in slices of 0.1 s, through RECONNECTING and CONNECTING. It returns ``None`` when
  the source is over without a fault: STOPPED by ``close()``, or a finite stream (a file served
  over HTTP) that ended. A source that gave up (FAILED: attempts exhausted, or a loss with
  reconnect disabled) raises ``pipeline.errors.SourceFailed`` with the reason, at every call.
  ``close()`` from another thread makes a waiting ``read()`` return ``None`` within one slice.
  No black, blank, stale or repeated frame is ever returned; frames that arrive faster than they
  are read are dropped (newest wins), and so is a frame not yet read when its connection fails;
  ``dropped_frames`` counts both.
- The stall watchdog: when no valid frame arrives for ``stall_timeout_s`` (or a connection attempt
  yields none within ``open_timeout_s + stall_timeout_s``) the capture is abandoned, a fresh one is
  made after the backoff, and ``stalls``/``disconnects`` count it. An abandoned reader thread is
  not joined; it ends when its blocked call returns (the capture's read timeout bounds that).
  At most ``MAX_ABANDONED_READERS`` may be alive per source: past that, the next attempt waits
  until one has ended, so threads cannot pile up.
- A frame that decodes to nothing usable (None, empty, not H×W×3 uint8) is skipped and counted in
  ``corrupt_frames``; it does not reset the stall watchdog.
- After every (re)connect the stream's fps, codec and frame size are taken again; a frame of a new
  size just flows, ``info`` follows, and ``size_changes`` counts it.
- ``on_status(SourceStatus)`` is called on every state change, on the thread that called
  ``open``/``read``/``stats``/``close``, never while an internal lock is held and never with
  credentials in it. An exception in the callback is logged and ignored. Every change is also
  logged (outages as warnings), at DEBUG when ``on_status`` is given: the host reports them itself.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TypeGuard

import numpy as np

from pipeline.config_schema import ReconnectConfig
from pipeline.errors import SourceFailed
from pipeline.frame import Frame
from pipeline.sources.base import SourceInfo
from pipeline.sources.reconnect import ReconnectMachine, SourceState, SourceStatus
from pipeline.sources.watchdog import Capture, CaptureReader, StreamProperties
from segcore.errors import SourceError
from segcore.redact import redact_uri

log = logging.getLogger(__name__)

MAX_ABANDONED_READERS = 4  # blocked capture threads allowed to linger per source
WAIT_SLICE_S = 0.1  # longest uninterrupted wait inside read()/open()
_OPEN_GRACE_S = 1.0  # open() waits this much past open_timeout_s, so the capture's own timeout fires first
_CLOSE_JOIN_S = 0.5  # close() gives a reader that is not stuck this long to release its capture

StatusCallback = Callable[[SourceStatus], None]


def _usable(image: np.ndarray | None) -> TypeGuard[np.ndarray]:
    return (
        isinstance(image, np.ndarray)
        and image.ndim == 3
        and image.shape[2] == 3
        and image.shape[0] > 0
        and image.shape[1] > 0
        and image.dtype == np.uint8
    )


class LiveSource:
    """The reconnecting Source. Subclasses supply ``connect``; see the module docstring."""

    def __init__(
        self,
        *,
        uri: str,
        source_id: str,
        reconnect: ReconnectConfig,
        connect: Callable[[], Capture],
        on_status: StatusCallback | None = None,
    ) -> None:
        self.source_id = source_id
        self._uri = redact_uri(uri)
        self._connect = connect
        self._on_status = on_status
        self._config = reconnect
        self._machine = ReconnectMachine(source_id, reconnect)
        self._cond = threading.Condition()
        self._emit_lock = threading.RLock()  # keeps callbacks in order; re-entrant for close() inside one
        self._outbox: list[SourceStatus] = []
        self._reader: CaptureReader | None = None
        self._readers_started = 0
        self._abandoned: list[CaptureReader] = []
        self._abandoned_total = 0
        self._waiting_on_abandoned = False
        # What the current reader reported and the consumer has not handled yet.
        self._pending: tuple[np.ndarray, float, float | None] | None = None
        self._pending_accepted = False
        self._failure: tuple[str, bool] | None = None
        self._properties: StreamProperties | None = None
        self._attempt_started = 0.0
        self._last_arrival = 0.0
        self._info = SourceInfo(uri=self._uri, width=0, height=0, fps=None, frame_count=None, is_live=True)
        self._frames = 0
        self._dropped = 0
        self._corrupt = 0
        self._size_changes = 0
        self._opened = False
        self._closed = False

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._uri!r}, source_id={self.source_id!r})"

    @property
    def info(self) -> SourceInfo:
        return self._info

    @property
    def state(self) -> SourceState:
        return self._machine.state

    # -- the Source protocol ------------------------------------------------------------------

    def open(self) -> SourceInfo:
        with self._cond:
            if self._closed:
                raise SourceError(f"{self._uri}: the source was closed; make a new one")
            if not self._opened:
                self._opened = True
                now = time.monotonic()
                self._post(self._machine.start(now))
                self._start_reader(now)
        self._flush()
        deadline = time.monotonic() + self._config.open_timeout_s + _OPEN_GRACE_S
        while True:
            with self._cond:
                now = time.monotonic()
                _, done, wait_s = self._advance(now, deliver=False)
                state, reason = self._machine.state, self._machine.reason
                settled = done or state is SourceState.STREAMING or now >= deadline
                if not settled and not self._outbox:
                    self._cond.wait(min(wait_s, deadline - now))
                    continue
            self._flush()
            if settled:
                break
        if self._closed or state in (SourceState.STREAMING, SourceState.STOPPED):
            return self._info  # closed meanwhile by another thread (a stop): read() returns None
        if not self._config.enabled:
            self.close()
            why = reason if state.terminal else f"no frame within {self._config.open_timeout_s:g} s"
            raise SourceError(f"cannot open {self._uri}: {why}")
        if state is not SourceState.FAILED:  # a FAILED source says so at its first read()
            level = self._status_level(logging.WARNING)
            log.log(level, "%s: not connected yet (%s); retrying in the background", self._uri, reason)
        return self._info

    def read(self) -> Frame | None:
        if self._closed:
            return None
        if not self._opened:
            self.open()
        while True:
            with self._cond:
                frame, done, wait_s = self._advance(time.monotonic(), deliver=True)
                if frame is None and not done and not self._outbox:
                    self._cond.wait(wait_s)
                    continue
            self._flush()
            if frame is not None:
                return frame
            if done:
                self._raise_if_failed()
                return None

    def _raise_if_failed(self) -> None:
        """``SourceFailed`` with the reason when the source gave up (a stop or an ended stream is None)."""
        with self._cond:
            if self._machine.state is not SourceState.FAILED:
                return
            reason, frames = self._machine.reason, self._frames
        if not frames:
            raise SourceFailed(f"cannot open {self._uri}: {reason}", delivered_frames=False)
        if not self._config.enabled:
            hint = "source.reconnect.enabled=true reconnects"
        else:
            hint = "source.reconnect.max_attempts=0 retries for ever"
        raise SourceFailed(f"{self._uri} was lost after {frames} frames: {reason} ({hint})", delivered_frames=True)

    def close(self) -> None:
        """Stop now: a waiting ``read()`` returns None; a capture stuck in a read is left to its thread."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            reader = self._reader
            self._retire()
            self._post(self._machine.stop(time.monotonic(), "closed"))
            self._cond.notify_all()
        self._flush()
        if reader is not None and not reader.join(_CLOSE_JOIN_S):
            with self._cond:
                self._abandoned.append(reader)
                self._abandoned_total += 1
            log.debug("%s: closed while its capture was blocked; its thread ends on its own", self._uri)

    def stats(self) -> dict[str, int | float | str]:
        with self._cond:
            now = time.monotonic()
            if self._opened:
                self._advance(now, deliver=False)  # keep the state current even when nobody reads
            stats = self._machine.stats(now)
            stats.update(
                frames=self._frames,
                dropped_frames=self._dropped,
                corrupt_frames=self._corrupt,
                size_changes=self._size_changes,
                width=self._info.width,
                height=self._info.height,
                stream_fps=self._info.fps or 0.0,
                codec=self._info.codec or "",
                abandoned_readers=len(self._abandoned),
                abandoned_total=self._abandoned_total,
            )
        self._flush()
        return stats

    # -- what the reader threads report (on their own threads) --------------------------------

    def reader_opened(self, reader: CaptureReader, properties: StreamProperties) -> None:
        with self._cond:
            if reader is self._reader:
                self._properties = properties
                self._cond.notify_all()

    def reader_frame(
        self, reader: CaptureReader, image: np.ndarray | None, arrived: float, pts: float | None
    ) -> None:
        with self._cond:
            if reader is not self._reader:
                return
            if not _usable(image):
                self._corrupt += 1
                return
            if self._pending is not None:
                self._dropped += 1
            self._pending = (image, arrived, pts)
            self._last_arrival = arrived
            self._cond.notify_all()

    def reader_failed(self, reader: CaptureReader, reason: str, end_of_stream: bool) -> None:
        with self._cond:
            if reader is self._reader:
                self._failure = (reason, end_of_stream)
                self._cond.notify_all()

    # -- the consumer side (always under self._cond) ------------------------------------------

    def _advance(self, now: float, *, deliver: bool) -> tuple[Frame | None, bool, float]:
        """Apply what happened; returns (a frame to deliver, whether the source is over, how long to wait)."""
        machine = self._machine
        self._abandoned = [r for r in self._abandoned if r.alive]
        if machine.state in (SourceState.CONNECTING, SourceState.STREAMING):
            if self._properties is not None:
                self._apply_properties(self._properties)
                self._properties = None
            if self._pending is not None and self._failure is not None and not self._failure[1]:
                self._dropped += 1  # the connection it came from is gone: stale, never delivered
            elif self._pending is not None:
                if not self._pending_accepted:
                    self._accept_pending()
                return (self._take_pending() if deliver else None), False, 0.0
            self._watch(now)
        if machine.state is SourceState.RECONNECTING and machine.due(now):
            if len(self._abandoned) < MAX_ABANDONED_READERS:
                self._waiting_on_abandoned = False
                self._post(machine.on_attempt(now))
                self._start_reader(now)
            elif not self._waiting_on_abandoned:
                self._waiting_on_abandoned = True
                log.warning(
                    "%s: %d capture threads are still blocked; the next attempt waits for one to end",
                    self._uri,
                    len(self._abandoned),
                )
        if machine.state.terminal:
            return None, True, 0.0
        wait_s = WAIT_SLICE_S
        attempt_at = machine.next_attempt_at if machine.state is SourceState.RECONNECTING else None
        if attempt_at is not None and attempt_at > now:  # past due means held back by stuck readers
            wait_s = min(wait_s, attempt_at - now)
        return None, False, wait_s

    def _watch(self, now: float) -> None:
        """The failure and stall checks of the current connection."""
        machine = self._machine
        stall_s = self._config.stall_timeout_s
        connect_limit_s = self._config.open_timeout_s + stall_s
        if self._failure is not None:
            reason, ended = self._failure
            self._retire()
            self._post(machine.stop(now, reason) if ended else machine.on_failure(now, reason))
        elif machine.state is SourceState.STREAMING and now - self._last_arrival > stall_s:
            self._retire(stuck=True)
            self._post(
                machine.on_failure(
                    now, f"stalled: no frame for {stall_s:g} s", stall=True, since=self._last_arrival
                )
            )
        elif machine.state is SourceState.CONNECTING and now - self._attempt_started > connect_limit_s:
            self._retire(stuck=True)
            self._post(machine.on_failure(now, f"no frame within {connect_limit_s:g} s of connecting"))

    def _accept_pending(self) -> None:
        """The first look at a new frame: its size, and the state change it may bring."""
        assert self._pending is not None
        image, arrived, _ = self._pending
        height, width = image.shape[:2]
        if (width, height) != (self._info.width, self._info.height):
            if self._info.width:
                self._size_changes += 1
                log.info(
                    "%s: frame size changed from %dx%d to %dx%d",
                    self._uri,
                    self._info.width,
                    self._info.height,
                    width,
                    height,
                )
            self._info = replace(self._info, width=width, height=height)
        self._post(self._machine.on_frame(arrived))
        self._pending_accepted = True

    def _take_pending(self) -> Frame:
        assert self._pending is not None
        image, arrived, pts = self._pending
        self._pending = None
        self._pending_accepted = False
        frame = Frame(
            image=image, source_id=self.source_id, index=self._frames, pts=pts, capture_time=arrived
        )
        self._frames += 1
        return frame

    def _apply_properties(self, properties: StreamProperties) -> None:
        self._info = replace(
            self._info,
            fps=properties.fps,
            codec=properties.codec,
            frame_count=properties.frame_count,
            is_live=properties.frame_count is None,
        )

    def _start_reader(self, now: float) -> None:
        self._readers_started += 1
        self._attempt_started = now
        self._reader = CaptureReader(
            self._connect, self, name=f"capture-{self.source_id}-{self._readers_started}"
        )
        self._reader.start()

    def _retire(self, *, stuck: bool = False) -> None:
        """Drop the current reader and whatever it reported; ``stuck``: it is blocked, count it."""
        reader, self._reader = self._reader, None
        self._pending, self._pending_accepted = None, False
        self._failure = self._properties = None
        if reader is not None:
            reader.abandon()
            if stuck:
                self._abandoned.append(reader)
                self._abandoned_total += 1

    def _post(self, status: SourceStatus | None) -> None:
        if status is not None:
            self._outbox.append(status)

    def _flush(self) -> None:
        """Log and hand out the queued status changes, in order, outside self._cond."""
        with self._emit_lock:
            with self._cond:
                statuses, self._outbox = self._outbox, []
            for status in statuses:
                level = self._status_level(
                    logging.WARNING
                    if status.state in (SourceState.RECONNECTING, SourceState.FAILED)
                    else logging.INFO
                )
                log.log(
                    level, "%s [%s]: %s (%s)", self._uri, self.source_id, status.state.value, status.reason
                )
                if self._on_status is not None:
                    try:
                        self._on_status(status)
                    except Exception:  # the host's callback must not take the source down
                        log.exception("%s: on_status callback raised", self._uri)

    def _status_level(self, level: int) -> int:
        """A state change's log level: ``level``, or DEBUG once ``on_status`` reports the changes."""
        return logging.DEBUG if self._on_status is not None else level
