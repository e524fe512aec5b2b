"""``RestreamSink`` (``--restream rtsp://HOST:PORT/PATH``): the annotated stream as H.264 over RTSP.

For recorders and players (VLC, ffplay, an NVR): every source's rendered frames (the raw frame
when rendering is off) are served at ``rtsp://HOST:PORT/PATH``, or ``PATH/SOURCE`` with several
sources (``{source}`` and ``{index}`` in the path name each mount yourself). The server is
GStreamer's RTSP server in a process of its own (``pipeline/sinks/rtsp_server.py``, run by
Debian's ``/usr/bin/python3``, whose ``python3-gi`` the virtual environment lacks); each stream
is encoded once (x264 ``tune=zerolatency``) and shared by every viewer, and costs no encoding
while nobody watches. A new viewer sees a picture at the next keyframe
(``restream.keyframe_interval`` frames).

Checked before the first frame: the URL (``ConfigError``), the GStreamer parts
(``OutputError`` naming the Debian packages to install) and the port (``OutputError`` when the
server cannot listen). A path is mounted when the sink opens, at the size the render stage
will draw (a source that does not know its size yet: at its first frame); H.264 wants even
sides, so an odd one loses its last pixel row or column; frames of another size (a camera that
came back different) are scaled to it. A viewer that comes before the first frame waits for it. The
pipeline never waits for the server: frames go through a two-frame queue that drops the oldest
(``stats()['dropped']``). A server that dies mid-run fails the sink (the run exits 1).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import subprocess
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import cv2
import numpy as np

from pipeline.config_schema import Visualize
from pipeline.frame import SegResult
from pipeline.queues import BoundedQueue, DropPolicy, QueueClosed
from pipeline.sinks.rtsp_server import FRAME, HEADER, MOUNT
from pipeline.sources.base import SourceInfo
from pipeline.stages.render import rendered_size
from segcore.errors import ConfigError, OutputError
from segcore.redact import redact_uri

SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's, with python3-gi
SERVER_SCRIPT = Path(__file__).with_name("rtsp_server.py")
APT_PACKAGES = ("python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good "
                "gstreamer1.0-plugins-ugly")
START_TIMEOUT_S = 15.0
DEFAULT_FPS = 30.0  # for a source that does not say its rate (the stream is timestamped as frames come)

RESTREAM_ELEMENTS = ("appsrc", "videoconvert", "x264enc", "rtph264pay")

_PROBE = """
import sys
import gi
gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import Gst, GstRtspServer
Gst.init(None)
print(" ".join(n for n in sys.argv[1:] if Gst.ElementFactory.find(n) is None))
"""


def missing_gstreamer(python: str, elements: Sequence[str]) -> str | None:
    """What ``python`` lacks to run GStreamer's RTSP server with ``elements`` (None when nothing)."""
    if not os.access(python, os.X_OK):
        return f"{python} is missing"
    try:
        probe = subprocess.run([python, "-c", _PROBE, *elements], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{python} could not be run ({exc})"
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["it failed"])[-1]
        return f"GStreamer's RTSP server is not importable by {python} ({last})"
    if probe.stdout.strip():
        return f"GStreamer lacks the elements {probe.stdout.strip()}"
    return None


@functools.cache
def missing_parts() -> str | None:
    """What this machine lacks to serve RTSP (None when nothing): checked once per process."""
    return missing_gstreamer(SYSTEM_PYTHON, RESTREAM_ELEMENTS)


def parse_restream_url(url: str) -> tuple[str, int, str]:
    """``rtsp://HOST:PORT/PATH`` → (host, port, path); ``ConfigError`` otherwise."""
    parts = urlsplit(url)
    shown = redact_uri(url)
    if parts.scheme != "rtsp" or not parts.hostname:
        raise ConfigError(f"restream URL {shown}: expected rtsp://HOST:PORT/PATH (the address to serve on)")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ConfigError(f"restream URL {shown}: credentials, a query or a fragment cannot be served; give rtsp://HOST:PORT/PATH")
    try:
        port = parts.port or 8554
    except ValueError:
        raise ConfigError(f"restream URL {shown}: the port is not a number from 1 to 65535") from None
    path = "/" + parts.path.strip("/")
    if path == "/":
        raise ConfigError(f"restream URL {shown}: no path; give rtsp://HOST:PORT/PATH, e.g. rtsp://127.0.0.1:8554/live")
    return parts.hostname, port, path


class RestreamSink:
    name = "restream"

    def __init__(
        self, url: str, *, bitrate_kbps: int = 4000, keyframe_interval: int = 30, multi_source: bool = False,
        visualize: Visualize = "overlay",
    ) -> None:
        self.url = url
        self.visualize = visualize
        self.host, self.port, self.path = parse_restream_url(url)
        self.bitrate_kbps = bitrate_kbps
        self.keyframe_interval = keyframe_interval
        self.multi_source = multi_source
        missing = missing_parts()
        if missing is not None:
            raise OutputError(f"--restream needs GStreamer's RTSP server: {missing}; install it with "
                              f"apt-get install {APT_PACKAGES}")
        self._process: subprocess.Popen[bytes] | None = None
        self._queue: BoundedQueue[bytes] = BoundedQueue(2, DropPolicy.DROP_OLDEST, name="restream")
        self._pipe_lock = threading.Lock()  # one message at a time into the server's stdin
        self._writer: threading.Thread | None = None
        self._mounts: dict[str, tuple[int, int, int]] = {}  # source id → (number, width, height)
        self._sources: dict[str, SourceInfo] = {}
        self._order: list[str] = []
        self._failure: OutputError | None = None
        self.frames = 0

    def mount_path(self, source_id: str, index: int) -> str:
        if "{source" in self.path or "{index" in self.path:
            return self.path.format(source=source_id, index=index)
        return f"{self.path}/{source_id}" if self.multi_source else self.path

    def urls(self) -> dict[str, str]:
        """Source id → the URL a viewer opens (known from ``open``)."""
        return {sid: f"rtsp://{self.host}:{self.port}{self.mount_path(sid, i)}" for i, sid in enumerate(self._order)}

    def open(self, sources: Mapping[str, SourceInfo]) -> None:
        self._sources = dict(sources)
        self._order = list(sources)
        args = [SYSTEM_PYTHON, str(SERVER_SCRIPT), self.host, str(self.port), str(self.bitrate_kbps),
                str(self.keyframe_interval)]
        process = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        line = _read_line(process.stdout, START_TIMEOUT_S)  # type: ignore[arg-type]
        if not line.startswith("READY"):
            _end(process)
            reason = line.removeprefix("FAILED ").strip() or f"the server did not start within {START_TIMEOUT_S:g} s"
            raise OutputError(f"cannot serve --restream {redact_uri(self.url)}: {reason}; choose another port")
        self._process = process
        self._writer = threading.Thread(target=self._write_frames, name="segstream-restream", daemon=True)
        self._writer.start()
        for source_id, info in sources.items():  # served from now on when the size is known: viewers may come early
            if info.width > 0 and info.height > 0:
                width, height = rendered_size(self.visualize, info.width, info.height) or (info.width, info.height)
                self._mount(source_id, width, height)

    def write(self, result: SegResult) -> None:
        if self._failure is not None:
            raise self._failure
        image = result.rendered if result.rendered is not None else result.frame.image
        source_id = result.frame.source_id
        mount = self._mounts.get(source_id)
        if mount is None:
            mount = self._mount(source_id, image.shape[1], image.shape[0])
        number, width, height = mount
        image = _fit(image, width, height)
        pixels = np.ascontiguousarray(image, dtype=np.uint8).tobytes()
        with contextlib.suppress(QueueClosed):
            self._queue.put(HEADER.pack(FRAME, number, len(pixels)) + pixels)
        self.frames += 1

    def _mount(self, source_id: str, width: int, height: int) -> tuple[int, int, int]:
        number = len(self._mounts)
        width, height = width - width % 2, height - height % 2  # H.264's 4:2:0 wants even sides
        info = self._sources.get(source_id)
        index = self._order.index(source_id) if source_id in self._order else number
        fps = info.fps if info is not None and info.fps else DEFAULT_FPS
        path = self.mount_path(source_id, index)
        spec = json.dumps({"path": path, "width": width, "height": height, "fps": fps})
        self._send(HEADER.pack(MOUNT, number, len(spec)) + spec.encode())  # straight in: never dropped, before its frames
        if self._failure is not None:
            raise self._failure
        process = self._process
        answer = _read_line(process.stdout, START_TIMEOUT_S) if process is not None and process.stdout else ""  # type: ignore[arg-type]
        if answer.strip() != f"MOUNTED {number}":
            self._failure = OutputError(f"the RTSP server for --restream {redact_uri(self.url)} did not serve "
                                        f"{path} (it answered {answer.strip()!r})")
            raise self._failure
        self._mounts[source_id] = (number, width, height)
        return self._mounts[source_id]

    def _write_frames(self) -> None:
        while self._failure is None:
            try:
                message = self._queue.get()
            except QueueClosed:
                return
            self._send(message)

    def _send(self, message: bytes) -> None:
        process = self._process
        if process is None or process.stdin is None:
            return
        with self._pipe_lock:
            try:
                process.stdin.write(message)
                process.stdin.flush()
            except (OSError, ValueError):
                self._failure = OutputError(f"the RTSP server for --restream {redact_uri(self.url)} stopped "
                                            f"(exit status {process.poll()}); the stream ended")
                self._queue.close()

    def close(self) -> None:
        self._queue.close()
        if self._writer is not None:
            self._writer.join(5.0)
            self._writer = None
        process, self._process = self._process, None
        if process is not None:
            _end(process)

    def stats(self) -> dict[str, Any]:
        return {"frames": self.frames, "dropped": self._queue.dropped, "urls": self.urls()}


def _fit(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """``image`` at the mount's size: as it is, cut to even sides, or scaled (a source that changed size)."""
    excess_w, excess_h = image.shape[1] - width, image.shape[0] - height
    if excess_w in (0, 1) and excess_h in (0, 1):
        return image[:height, :width] if excess_w or excess_h else image
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


def _read_line(stream: IO[bytes], timeout: float) -> str:
    """One line from ``stream`` within ``timeout`` seconds ("" when none came)."""
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return got[0].decode(errors="replace") if got else ""


def _end(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(OSError):
        if process.stdin is not None:
            process.stdin.close()
    try:
        process.wait(5.0)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()

