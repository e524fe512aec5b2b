"""Real stream servers for tests, each a subprocess on 127.0.0.1 that a test can break.

``RtspServer`` is Debian's GStreamer RTSP server (H.264 test pattern), run by Debian's own
``/usr/bin/python3`` (PyGObject comes from apt, not from the venv). ``MjpegServer`` is a small
MJPEG-over-HTTP server (``multipart/x-mixed-replace``, as IP cameras serve), run by this Python.
Both start, kill (SIGKILL), stop, freeze (SIGSTOP), thaw (SIGCONT) and restart, always on the same
port once they have one, and wait until they listen::

    with RtspServer(width=320, height=240) as server:
        cap = cv2.VideoCapture(server.url, cv2.CAP_FFMPEG)
        server.freeze(); ...; server.thaw()
        server.restart(width=160, height=120)

``unavailable_reason()`` says why the RTSP server cannot run here (None when it can);
``APT_COMMAND`` installs what it needs.
"""

from __future__ import annotations

import functools
import select
import signal
import subprocess
import sys
import time
from typing import TypeVar

from pipeline.sinks.restream import missing_gstreamer

SYSTEM_PYTHON = "/usr/bin/python3"
APT_COMMAND = (
    "sudo apt-get install -y python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base "
    "gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly gstreamer1.0-plugins-bad"
)
HOST = "127.0.0.1"

# Runs under /usr/bin/python3. argv: port path width height fps transport(any|tcp|udp) [user password]
_SERVER = r"""
import sys
import gi
gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer

port, path, width, height, fps, transport = sys.argv[1:7]
Gst.init(None)
server = GstRtspServer.RTSPServer()
server.set_address("127.0.0.1")
server.set_service(port)
factory = GstRtspServer.RTSPMediaFactory()
factory.set_launch(
    f"( videotestsrc is-live=true pattern=ball ! video/x-raw,width={width},height={height},framerate={fps}/1 "
    f"! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={fps} ! rtph264pay name=pay0 pt=96 )"
)
if transport != "any":
    factory.set_protocols(GstRtsp.RTSPLowerTrans.TCP if transport == "tcp" else GstRtsp.RTSPLowerTrans.UDP)
if len(sys.argv) > 8:
    user, password = sys.argv[7:9]
    auth = GstRtspServer.RTSPAuth()
    token = GstRtspServer.RTSPToken()
    token.set_string("media.factory.role", user)
    auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password), token)
    server.set_auth(auth)
    permissions = GstRtspServer.RTSPPermissions()
    permissions.add_permission_for_role(user, "media.factory.access", True)
    permissions.add_permission_for_role(user, "media.factory.construct", True)
    factory.set_permissions(permissions)
server.get_mount_points().add_factory(path, factory)
if not server.attach(None):
    print("FAILED to listen on port", port, flush=True)
    sys.exit(3)
print("READY", server.get_bound_port(), flush=True)
GLib.MainLoop().run()
"""

# Runs under this Python. argv: port width height fps
_MJPEG_SERVER = r"""
import sys, time, http.server, socketserver
import cv2
import numpy as np

port, width, height, fps = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])


class Stream(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
        self.end_headers()
        index = 0
        try:
            while True:
                image = np.full((height, width, 3), (index * 8) % 256, np.uint8)
                jpeg = cv2.imencode(".jpg", image)[1].tobytes()
                part = b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(jpeg)
                self.wfile.write(part + jpeg + b"\r\n")
                self.wfile.flush()
                index += 1
                time.sleep(1 / fps)
        except (BrokenPipeError, ConnectionResetError):
            pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


server = Server(("127.0.0.1", port), Stream)
print("READY", server.server_address[1], flush=True)
server.serve_forever()
"""

class ServerUnavailable(RuntimeError):
    """The GStreamer RTSP server cannot run on this machine."""


@functools.lru_cache(maxsize=1)
def unavailable_reason() -> str | None:
    """None when the server can run here; otherwise why not, with the command that fixes it."""
    reason = missing_gstreamer(SYSTEM_PYTHON, ("videotestsrc", "x264enc", "rtph264pay"))
    return None if reason is None else f"{reason}; the RTSP test server needs them: {APT_COMMAND}"


ServerT = TypeVar("ServerT", bound="StreamServer")


class StreamServer:
    """A server subprocess that prints ``READY <port>`` once it listens; subclasses give its argv."""

    def __init__(self, *, port: int = 0) -> None:
        self.port = port  # 0 until the first start picks a free one; kept across restarts
        self._process: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        raise NotImplementedError

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def _argv(self) -> list[str]:
        raise NotImplementedError

    def _unavailable(self) -> str | None:
        return None

    def start(self: ServerT, timeout: float = 10.0) -> ServerT:
        """Start and wait until it listens; retries while the old port is still being released."""
        reason = self._unavailable()
        if reason:
            raise ServerUnavailable(reason)
        deadline = time.monotonic() + timeout
        while True:
            error = self._start_once(deadline)
            if error is None:
                return self
            if time.monotonic() >= deadline:
                raise ServerUnavailable(f"{type(self).__name__} did not start: {error}")
            time.sleep(0.2)

    def _start_once(self, deadline: float) -> str | None:
        process = subprocess.Popen(self._argv(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert process.stdout is not None
        line = ""
        while time.monotonic() < deadline:
            ready, _, _ = select.select([process.stdout], [], [], 0.1)
            if ready:
                line = process.stdout.readline()
                break
            if process.poll() is not None:
                break
        if line.startswith("READY"):
            self.port = int(line.split()[1])
            self._process = process
            return None
        process.kill()
        process.wait()
        if process.stdout:
            process.stdout.close()
        return line.strip() or f"exit status {process.returncode}"

    def kill(self) -> None:
        """SIGKILL: the connections drop at once, as when a camera loses power."""
        self._end(signal.SIGKILL)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it lingers."""
        self._end(signal.SIGTERM)

    def _end(self, sig: signal.Signals) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGCONT)  # a frozen process must be able to act on SIGTERM
            process.send_signal(sig)
            try:
                process.wait(timeout=3)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout:
            process.stdout.close()

    def freeze(self) -> None:
        """SIGSTOP: sockets stay open but nothing more is sent, as with a hung camera."""
        if self._process is not None:
            self._process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT after ``freeze()``."""
        if self._process is not None:
            self._process.send_signal(signal.SIGCONT)

    def restart(self: ServerT, **changes: object) -> ServerT:
        """Kill, apply ``changes`` (the constructor's settings), start again on the same port."""
        self.kill()
        for name, value in changes.items():
            if name.startswith("_") or name in ("port", "url", "pid") or not hasattr(self, name):
                raise TypeError(f"restart() got an unexpected setting {name!r}")
            setattr(self, name, value)
        return self.start()

    def __enter__(self: ServerT) -> ServerT:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.kill()


class RtspServer(StreamServer):
    """GStreamer's RTSP server with a live H.264 test pattern at ``url``."""

    def __init__(
        self,
        *,
        port: int = 0,
        path: str = "/test",
        width: int = 320,
        height: int = 240,
        fps: int = 30,
        transport: str = "any",  # any | tcp | udp: the RTP transports the server accepts
        credentials: tuple[str, str] | None = None,
    ) -> None:
        super().__init__(port=port)
        self.path = path
        self.width, self.height, self.fps = width, height, fps
        self.transport = transport
        self.credentials = credentials

    @property
    def url(self) -> str:
        """The stream's URL, with the credentials in it when the server has some."""
        userinfo = f"{self.credentials[0]}:{self.credentials[1]}@" if self.credentials else ""
        return f"rtsp://{userinfo}{HOST}:{self.port}{self.path}"

    def _unavailable(self) -> str | None:
        return unavailable_reason()

    def _argv(self) -> list[str]:
        argv = [SYSTEM_PYTHON, "-c", _SERVER, str(self.port), self.path, str(self.width), str(self.height)]
        return argv + [str(self.fps), self.transport, *(self.credentials or ())]


class MjpegServer(StreamServer):
    """MJPEG over HTTP (``multipart/x-mixed-replace``), as many IP cameras serve it, at ``url``."""

    def __init__(self, *, port: int = 0, width: int = 160, height: int = 120, fps: float = 30.0) -> None:
        super().__init__(port=port)
        self.width, self.height, self.fps = width, height, fps

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/stream.mjpg"

    def _argv(self) -> list[str]:
        return [
            sys.executable,
            "-c",
            _MJPEG_SERVER,
            str(self.port),
            str(self.width),
            str(self.height),
            str(self.fps),
        ]
