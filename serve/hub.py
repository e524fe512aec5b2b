"""The newest picture of every source, encoded once as JPEG and shared by every viewer.

Threads and who waits for whom:

- the pipeline's sink thread calls ``publish`` (O(1): it keeps a reference to the newest frame and
  wakes the encoder), so the pipeline never waits for a viewer or an encode;
- one encoder thread (``serve-encoder``, at a lower priority than the pipeline's threads: when
  the cores are short the streams skip frames, the pipeline does not) encodes the newest frame of
  a source when it has viewers, at most ``stream_fps`` times a second per source, and draws a
  placeholder (the source's state, the seconds since its last frame) once a source has been
  quiet for ``placeholder_after_s``;
- viewers (coroutines on the server's event loop) await ``next_jpeg``: they are woken through
  ``loop.call_soon_threadsafe`` and always get the newest JPEG, so a slow viewer skips frames and
  never holds anyone up;
- a snapshot encodes on the caller's (worker) thread when the newest frame has no JPEG yet.

``remove(source_id)`` (a source left the running pipeline) ends that source's viewers' streams;
``close()`` ends the encoder thread and wakes every viewer, whose stream then ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import cv2
import numpy as np

from serve.placeholder import draw_placeholder
from serve.priority import yield_to_pipeline

log = logging.getLogger(__name__)

PLACEHOLDER_REFRESH_S = 0.5  # a placeholder's "seconds since the last frame" is redrawn this often


@dataclass
class _Stream:
    source_id: str
    size: tuple[int, int]  # (width, height) of the source's frames, for a placeholder before the first frame
    image: np.ndarray | None = None  # the newest picture (rendered, or the frame when nothing is rendered)
    fractions: np.ndarray | None = None
    frame_seq: int = 0  # counts published frames
    frame_at: float | None = None  # monotonic time of the newest frame
    jpeg: bytes | None = None
    jpeg_seq: int = 0  # counts encoded JPEGs (frames and placeholders)
    jpeg_of: int = -1  # the frame_seq the JPEG shows (-1: a placeholder)
    jpeg_time: float = 0.0  # monotonic time its frame was published (a placeholder: when drawn)
    encoded_at: float = 0.0
    viewers: int = 0
    encodes: int = 0
    event: asyncio.Event | None = field(default=None, repr=False)


class FrameHub:
    """Per source: the newest picture, its one shared JPEG, and the viewers waiting for the next."""

    def __init__(
        self,
        *,
        jpeg_quality: int = 80,
        stream_fps: float = 15.0,
        placeholder_after_s: float = 1.0,
        state_of: Callable[[str], str] | None = None,
    ) -> None:
        self.jpeg_quality = int(jpeg_quality)
        self.min_interval = 1.0 / float(stream_fps)
        self.placeholder_after_s = float(placeholder_after_s)
        self.state_of = state_of or (lambda source_id: "unknown")
        self._cond = threading.Condition()
        self._streams: dict[str, _Stream] = {}
        self._removed: set[str] = set()  # sources removed while running (ids stay taken for the run)
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._encoder: threading.Thread | None = None
        self._wait = PLACEHOLDER_REFRESH_S  # the encoder's next wait when nothing is due (set by _due)

    # ---------------------------------------------------------------- the pipeline's side

    def open(self, sources: Iterable[tuple[str, tuple[int, int]]]) -> None:
        """Register the sources (id, (width, height)) and start the encoder thread."""
        with self._cond:
            for source_id, size in sources:
                self._streams.setdefault(source_id, _Stream(source_id, size))
            if self._encoder is None and not self._closed:
                self._encoder = threading.Thread(target=self._encode_loop, name="serve-encoder", daemon=True)
                self._encoder.start()

    def remove(self, source_id: str) -> None:
        """``source_id`` left the run: its viewers' streams end, it is listed no more, and its
        pictures still on their way are ignored."""
        with self._cond:
            self._removed.add(source_id)
            stream = self._streams.pop(source_id, None)
            event, loop = (stream.event, self._loop) if stream is not None else (None, None)
            if stream is not None:
                stream.event = None
        if event is not None and loop is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(event.set)

    def publish(self, source_id: str, image: np.ndarray, fractions: np.ndarray | None) -> None:
        """The newest picture of ``source_id`` (never modified afterwards); returns at once."""
        with self._cond:
            stream = self._streams.get(source_id)
            if stream is None:
                if source_id in self._removed:
                    return
                stream = self._streams[source_id] = _Stream(source_id, (image.shape[1], image.shape[0]))
            stream.image, stream.fractions = image, fractions
            stream.frame_seq += 1
            stream.frame_at = time.monotonic()
            if stream.viewers:
                self._cond.notify_all()

    def close(self) -> None:
        """End the encoder thread and every viewer's stream; idempotent."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            encoder = self._encoder
        if encoder is not None and encoder is not threading.current_thread():
            encoder.join(timeout=5.0)
        for source_id in self.source_ids():
            self._wake(source_id)

    # ---------------------------------------------------------------- the server's side

    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """The event loop the viewers wait on (the server's)."""
        self._loop = loop

    @property
    def closed(self) -> bool:
        return self._closed

    def source_ids(self) -> list[str]:
        with self._cond:
            return list(self._streams)

    def viewers(self) -> dict[str, int]:
        with self._cond:
            return {source_id: s.viewers for source_id, s in self._streams.items()}

    def encodes(self) -> dict[str, int]:
        """JPEGs encoded so far per source (frames and placeholders)."""
        with self._cond:
            return {source_id: s.encodes for source_id, s in self._streams.items()}

    def fractions(self) -> dict[str, np.ndarray]:
        """The newest per-class pixel fractions of each source that has had a frame."""
        with self._cond:
            return {k: s.fractions for k, s in self._streams.items() if s.fractions is not None}

    def last_frame_age(self, source_id: str) -> float | None:
        with self._cond:
            stream = self._streams.get(source_id)
            if stream is None or stream.frame_at is None:
                return None
            return time.monotonic() - stream.frame_at

    def has(self, source_id: str) -> bool:
        """Whether ``source_id`` is a stream of the run now (known, not removed)."""
        with self._cond:
            return source_id in self._streams

    def join_viewer(self, source_id: str) -> bool:
        """Count a viewer of ``source_id``; False when there is no such stream (any more)."""
        with self._cond:
            stream = self._streams.get(source_id)
            if stream is None:
                return False
            stream.viewers += 1
            self._cond.notify_all()
            return True

    def leave_viewer(self, source_id: str) -> None:
        with self._cond:
            stream = self._streams.get(source_id)
            if stream is not None:
                stream.viewers -= 1

    def total_viewers(self) -> int:
        with self._cond:
            return sum(s.viewers for s in self._streams.values())

    async def next_jpeg(self, source_id: str, after: int, timeout: float = 5.0) -> tuple[bytes | None, int, float]:
        """The newest JPEG of ``source_id`` newer than number ``after`` (waiting for one), with its
        number and the monotonic time its frame was published; (None, after, 0) once the hub is
        closed or the stream removed (``has`` tells which), or on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            with self._cond:
                stream = self._streams.get(source_id)
                if self._closed or stream is None:
                    return None, after, 0.0
                if stream.jpeg is not None and stream.jpeg_seq > after:
                    return stream.jpeg, stream.jpeg_seq, stream.jpeg_time
                if stream.event is None:
                    stream.event = asyncio.Event()
                event = stream.event
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None, after, 0.0
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except asyncio.TimeoutError:
                return None, after, 0.0

    def snapshot(self, source_id: str) -> bytes:
        """A JPEG of the newest picture (encoded here if it has none yet), or of the placeholder
        while the source is quiet (a frozen frame would look like a scene where nothing moves);
        ``KeyError`` for a stream that is not (or no longer) there."""
        with self._cond:
            stream = self._streams[source_id]  # KeyError: no such stream (any more)
            quiet = stream.frame_at is None or time.monotonic() - stream.frame_at >= self.placeholder_after_s
            if not quiet and stream.jpeg is not None and stream.jpeg_of == stream.frame_seq:
                return stream.jpeg
            image, seq, frame_at = stream.image, stream.frame_seq, stream.frame_at
            size = stream.size if image is None else (image.shape[1], image.shape[0])
        if quiet or image is None:
            since = None if frame_at is None else time.monotonic() - frame_at
            return self._encode(draw_placeholder(size, source_id, self.state_of(source_id), since))
        jpeg = self._encode(image)
        with self._cond:
            if stream.frame_seq == seq and stream.jpeg_of != seq:  # still the newest: share it with the viewers
                self._store(stream, jpeg, seq)
        return jpeg

    # ---------------------------------------------------------------- the encoder thread

    def _encode(self, image: np.ndarray) -> bytes:
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
        if not ok:
            raise RuntimeError(f"JPEG encoding of a {image.shape} picture failed")
        return data.tobytes()

    def _store(self, stream: _Stream, jpeg: bytes, of: int) -> None:
        """Keep ``jpeg`` as the stream's newest (the lock held) and wake its viewers."""
        stream.jpeg, stream.jpeg_of = jpeg, of
        stream.jpeg_time = stream.frame_at if of != -1 and stream.frame_at is not None else time.monotonic()
        stream.jpeg_seq += 1
        stream.encodes += 1
        stream.encoded_at = time.monotonic()
        loop = self._loop
        if loop is not None and stream.event is not None:
            event, stream.event = stream.event, None
            with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits any more
                loop.call_soon_threadsafe(event.set)

    def _wake(self, source_id: str) -> None:
        with self._cond:
            stream = self._streams.get(source_id)
            loop = self._loop
            if stream is None or stream.event is None or loop is None:
                return
            event, stream.event = stream.event, None
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(event.set)

    def _due(self, now: float) -> tuple[_Stream, np.ndarray | None, int, float] | None:
        """The next job (the lock held): (stream, frame or None for a placeholder, frame seq, when);
        None with the wait until the next is due stored in ``self._wait``."""
        wait = PLACEHOLDER_REFRESH_S
        for stream in self._streams.values():
            if not stream.viewers:
                continue
            quiet = stream.frame_at is None or now - stream.frame_at >= self.placeholder_after_s
            if quiet:
                redraw_in = stream.encoded_at + PLACEHOLDER_REFRESH_S - now if stream.jpeg_of == -1 else 0.0
                if redraw_in <= 0:
                    return stream, None, -1, now
                wait = min(wait, redraw_in)
                continue
            if stream.jpeg_of == stream.frame_seq:
                wait = min(wait, self.placeholder_after_s - (now - (stream.frame_at or now)))
                continue
            ready_in = stream.encoded_at + self.min_interval - now
            if ready_in <= 0:
                return stream, stream.image, stream.frame_seq, now
            wait = min(wait, ready_in)
        self._wait = max(0.001, wait)
        return None

    def _encode_loop(self) -> None:
        yield_to_pipeline()  # when the cores are short the streams skip frames, not the pipeline
        while True:
            with self._cond:
                job = None
                while not self._closed:
                    job = self._due(time.monotonic())
                    if job is not None:
                        break
                    self._cond.wait(self._wait)
                if self._closed or job is None:
                    return
                stream, image, seq, _ = job
                size, frame_at = stream.size, stream.frame_at
                if image is None and stream.image is not None:
                    size = (stream.image.shape[1], stream.image.shape[0])
            try:
                if image is None:
                    since = None if frame_at is None else time.monotonic() - frame_at
                    image = draw_placeholder(size, stream.source_id, self.state_of(stream.source_id), since)
                jpeg = self._encode(image)
            except Exception as exc:  # noqa: BLE001 - one picture that cannot be drawn must not end every stream
                log.warning("stream %s: cannot encode its picture: %s", stream.source_id, exc)
                with self._cond:
                    stream.encoded_at = time.monotonic()  # try again after the usual interval, not at once
                    if seq == -1:
                        stream.jpeg_of = -1
                continue
            with self._cond:
                if seq == -1 or stream.jpeg_of != seq:
                    self._store(stream, jpeg, seq)
