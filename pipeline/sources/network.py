"""Network streams (RTSP, RTSPS, RTMP, HTTP(S)) through OpenCV's FFmpeg backend, reconnecting.

``NetworkSource(uri, source_id=..., config=SourceConfig, on_status=...)`` is a ``LiveSource``
whose captures are ``cv2.VideoCapture(uri, cv2.CAP_FFMPEG, params)`` with the open and read
timeouts in ``params``: OpenCV honours them only there (``cap.set()`` afterwards does nothing), and
without them a frozen RTSP server blocks ``read()`` for about 30 s per buffered frame. The read
timeout is ``stall_timeout_s + 1 s``, so the stall watchdog, not FFmpeg, notices a frozen stream;
FFmpeg's timeout then bounds how long the abandoned capture thread lingers (about three read
timeouts, one per buffered frame, measured against a frozen server).

RTSP transport (``config.rtsp_transport``):

- ``tcp`` (default): OpenCV's own default is used as is: RTP over TCP first, UDP only if the server
  refuses TCP (FFmpeg's ``rtsp_flags=prefer_tcp``). Nothing process-wide is touched.
- ``udp``: OpenCV takes FFmpeg options only from the process-wide environment variable
  ``OPENCV_FFMPEG_CAPTURE_OPTIONS``, read when a capture opens; there is no other way to ask for
  UDP. So for the duration of the ``cv2.VideoCapture`` constructor, and only then, it is set to
  ``rtsp_transport;udp`` and then put back as it was (the one place this library touches the
  environment). Opens that need different values never overlap: a gate serialises them, while
  opens that agree run together. A capture opened elsewhere in the process at that moment (a file)
  sees the option too; FFmpeg uses it for RTSP only.
- A user who sets ``OPENCV_FFMPEG_CAPTURE_OPTIONS`` themselves takes over: OpenCV then drops its
  TCP-first default, and FFmpeg uses UDP unless the value holds ``rtsp_transport;tcp``.

A stream that does not open is probed once with a plain TCP connection to its host and port, so
that the reason says which it was: refused, no answer, unknown host, or a server that answered
but sent no video (FFmpeg says it only on stderr, which the command keeps quiet).

Credentials in the URI are used for the connection only: ``info.uri``, statuses, stats, errors
and logs show ``rtsp://***@host/...``.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import cv2
import numpy as np

from pipeline.config import check_allowed
from pipeline.config_schema import SourceConfig
from pipeline.sources.live import LiveSource, StatusCallback
from pipeline.sources.watchdog import ConnectError, StreamProperties
from segcore.errors import SourceError
from segcore.redact import redact_uri

log = logging.getLogger(__name__)

SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "http", "https")
_OPTIONS_VAR = "OPENCV_FFMPEG_CAPTURE_OPTIONS"
_READ_TIMEOUT_MARGIN_S = 1.0
_PROBE_TIMEOUT_S = 1.0  # after a failed open, the longest wait for a TCP answer that says why
_DEFAULT_PORTS = {"rtsp": 554, "rtsps": 322, "rtmp": 1935, "rtmps": 443, "http": 80, "https": 443}


class CvCapture:
    """An opened ``cv2.VideoCapture`` as a ``pipeline.sources.watchdog.Capture``."""

    def __init__(self, capture: cv2.VideoCapture) -> None:
        self._capture = capture

    def read(self) -> tuple[bool, np.ndarray | None]:
        ok, image = self._capture.read()
        return (True, image) if ok else (False, None)

    def position_s(self) -> float | None:
        msec = self._capture.get(cv2.CAP_PROP_POS_MSEC)
        return msec / 1000.0 if math.isfinite(msec) and msec >= 0 else None

    def properties(self) -> StreamProperties:
        fps = self._capture.get(cv2.CAP_PROP_FPS)
        count = self._capture.get(cv2.CAP_PROP_FRAME_COUNT)  # live RTSP reports junk (-3e15) or 0
        return StreamProperties(
            fps=fps if math.isfinite(fps) and 0 < fps <= 1000 else None,
            codec=_fourcc(self._capture.get(cv2.CAP_PROP_FOURCC)),
            frame_count=int(count) if math.isfinite(count) and 0 < count < 2**31 else None,
        )

    def release(self) -> None:
        self._capture.release()


def _fourcc(value: float) -> str | None:
    if not math.isfinite(value) or value <= 0:
        return None
    text = int(value).to_bytes(4, "little", signed=False).decode("ascii", errors="replace").strip("\0 ")
    return text if text.isprintable() and text else None


class _EnvGate:
    """Lets opens that need the same value of an environment variable run together, others wait."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._cond = threading.Condition()
        self._holders = 0
        self._value: str | None = None  # what the holders need; None = the process's own setting
        self._saved: str | None = None

    @contextmanager
    def holding(self, value: str | None) -> Iterator[None]:
        with self._cond:
            while self._holders and self._value != value:
                self._cond.wait()
            if not self._holders:
                self._value = value
                if value is not None:
                    self._saved = os.environ.get(self._name)
                    os.environ[self._name] = value
            self._holders += 1
        try:
            yield
        finally:
            with self._cond:
                self._holders -= 1
                if not self._holders:
                    if self._value is not None:
                        if self._saved is None:
                            os.environ.pop(self._name, None)
                        else:
                            os.environ[self._name] = self._saved
                    self._cond.notify_all()


_OPTIONS_GATE = _EnvGate(_OPTIONS_VAR)


def _capture_options(scheme: str, transport: str) -> str | None:
    """The value ``OPENCV_FFMPEG_CAPTURE_OPTIONS`` needs during the open; None = leave it alone."""
    if scheme != "rtsp" or transport == "tcp":  # rtsps is TCP by definition; the rest are not RTSP
        return None
    return f"rtsp_transport;{transport}"


def open_ffmpeg_capture(
    uri: str, *, open_timeout_s: float, read_timeout_s: float, transport: str
) -> CvCapture:
    """A connected FFmpeg capture with both timeouts in the constructor, or ConnectError."""
    params = [
        cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
        max(1, round(open_timeout_s * 1000)),
        cv2.CAP_PROP_READ_TIMEOUT_MSEC,
        max(1, round(read_timeout_s * 1000)),
    ]
    with _OPTIONS_GATE.holding(_capture_options(urlsplit(uri).scheme.lower(), transport)):
        capture = cv2.VideoCapture(uri, cv2.CAP_FFMPEG, params)
    if not capture.isOpened():
        capture.release()
        raise ConnectError(why_not_opened(uri, min(_PROBE_TIMEOUT_S, open_timeout_s)))
    return CvCapture(capture)


def why_not_opened(uri: str, timeout_s: float) -> str:
    """Why a stream did not open, found by connecting to its host and port (FFmpeg's own message,
    printed on stderr at error level, is kept quiet by the command: this says it on the status line)."""
    parts = urlsplit(uri)
    scheme, host = parts.scheme.lower(), parts.hostname or ""
    port = parts.port or _DEFAULT_PORTS.get(scheme, 0)
    where = f"{host}:{port}"
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except socket.gaierror:
        return f"host {host!r} not found (check the address)"
    except ConnectionRefusedError:
        return f"connection refused by {where}, nothing listens there (camera or server off, or wrong port)"
    except TimeoutError:
        return f"no answer from {where} within {timeout_s:g} s (host down or unreachable)"
    except OSError as exc:
        return f"cannot reach {where}: {exc.strerror or type(exc).__name__}"
    return (
        f"{where} answers but sent no video (wrong path or credentials, a transport the server refuses, "
        "or no video track)"
    )


def check_network_uri(uri: str) -> str:
    """The URI's scheme, lower case; SourceError when it is not a usable network stream URI."""
    shown = redact_uri(uri)
    if any(c.isspace() for c in uri):
        raise SourceError(f"{shown!r}: a stream URI cannot contain spaces; percent-encode them (%20)")
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise SourceError(f"{shown!r}: not a network stream; the schemes are {', '.join(SCHEMES)}")
    try:
        host, _ = parts.hostname, parts.port
    except ValueError as exc:
        raise SourceError(
            f"{shown!r}: bad host or port ({exc}); expected {scheme}://host[:port]/path"
        ) from None
    if not host:
        raise SourceError(f"{shown!r}: no host; expected {scheme}://host[:port]/path")
    return scheme


class NetworkSource(LiveSource):
    """A reconnecting RTSP/RTSPS/RTMP/HTTP(S) stream; see the module docstring."""

    def __init__(
        self,
        uri: str,
        *,
        source_id: str,
        config: SourceConfig,
        on_status: StatusCallback | None = None,
    ) -> None:
        check_network_uri(uri)
        check_allowed("source.rtsp_transport", config.rtsp_transport)
        reconnect = config.reconnect
        transport = config.rtsp_transport

        def connect() -> CvCapture:  # a closure, not a partial: its repr must not show the URI
            return open_ffmpeg_capture(
                uri,
                open_timeout_s=reconnect.open_timeout_s,
                read_timeout_s=reconnect.stall_timeout_s + _READ_TIMEOUT_MARGIN_S,
                transport=transport,
            )

        super().__init__(
            uri=uri, source_id=source_id, reconnect=reconnect, connect=connect, on_status=on_status
        )
