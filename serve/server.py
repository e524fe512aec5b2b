"""The server's lifetime, beside a pipeline in the same process.

    server = Server(config.serve)                    # binds the port now: a busy one is an OutputError
    pipeline = Pipeline.from_config(config, sinks=[server.sink])
    pipeline.start()
    server.start(pipeline)                           # engines for /v1/segment, then uvicorn on its thread
    ...                                              # the pipeline runs; viewers come and go
    server.close()                                   # streams end, uvicorn stops, its thread is joined

uvicorn runs on its own thread with its own event loop (``serve-http``, at a lower priority than
the pipeline's threads: ``serve.priority``; uvloop and httptools where installed, as the serve
extra does: what 50 MJPEG viewers cost the pipeline with each is in ``docs/benchmarks.md``). It
installs no signal handlers there (only the main thread may), configures no logging
(``log_config=None``) and keeps no access log. The pipeline's sink thread only hands pictures to
the ``FrameHub``; the hub's encoder thread and the event loop do the rest, so no viewer can hold
up the pipeline. ``close`` is
idempotent and bounded in time: the hub ends every stream first, so uvicorn's graceful shutdown
has nothing to wait for.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import socket
import threading
import time
from collections.abc import Coroutine
from typing import Any

from pipeline import Pipeline
from pipeline.config_schema import Config, ServeConfig
from segcore.errors import OutputError
from serve.app import StatsCache, build_app
from serve.hub import FrameHub
from serve.priority import yield_to_pipeline
from serve.segment import SegmentService
from serve.sink import ServeSink

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (IPv4 or IPv6); ``OutputError`` when it cannot be had."""
    where = f"--serve {host}:{port}"
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise OutputError(f"{where}: cannot resolve host {host!r} ({exc.strerror}); pass an address such as 127.0.0.1") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a port in TIME_WAIT, not one in use
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise OutputError(f"{where}: port {port} is already in use; pick another port (or 0 for a free one)") from None
        if exc.errno == errno.EACCES:
            raise OutputError(f"{where}: not allowed to listen on port {port}; use a port above 1023") from None
        raise OutputError(f"{where}: cannot listen there ({exc.strerror}); pass an address of this machine") from None
    sock.setblocking(False)
    return sock


def _new_loop() -> asyncio.AbstractEventLoop:
    """uvloop's event loop where it is installed (the serve extra), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def run_loop(main: Coroutine[Any, Any, None]) -> None:
    """``asyncio.run(main)`` on the loop of ``_new_loop``: the same clean-up (async generators,
    the executor of ``asyncio.to_thread``), on Python 3.10 too."""
    loop = _new_loop()
    try:
        loop.run_until_complete(main)
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()


def serve_in_thread(app: Any, sock: socket.socket, hub: FrameHub) -> tuple[Any, threading.Thread]:
    """uvicorn serving ``app`` on ``sock`` from a thread of its own (``serve-http``), whose event
    loop ``hub`` wakes viewers on; returns once it accepts connections (RuntimeError if it cannot)."""
    import uvicorn

    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off", timeout_graceful_shutdown=1,
                            ws="none")
    server = uvicorn.Server(config)

    async def main() -> None:
        yield_to_pipeline()  # viewers skip frames when the cores are short; the pipeline does not slow
        hub.bind_loop(asyncio.get_running_loop())
        await server.serve(sockets=[sock])

    thread = threading.Thread(target=run_loop, args=(main(),), name="serve-http", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)  # uvicorn says it has started only through this flag
    if not server.started:
        stop_thread(server, thread)
        raise RuntimeError(f"the HTTP server did not start within {START_TIMEOUT_S:.0f} s")
    return server, thread


def stop_thread(server: Any, thread: threading.Thread) -> None:
    """Ask uvicorn to stop and wait for its thread (forcing it after ``STOP_TIMEOUT_S``)."""
    server.should_exit = True
    thread.join(STOP_TIMEOUT_S)
    if thread.is_alive():
        server.force_exit = True
        thread.join(STOP_TIMEOUT_S)


class Server:
    """The HTTP server of one pipeline; see the module docstring for its lifetime."""

    def __init__(self, config: Config | ServeConfig) -> None:
        self.config = config if isinstance(config, Config) else dataclasses.replace(Config(), serve=config)
        serve = self.config.serve
        self.socket = bind(serve.host, 0 if serve.port is None else serve.port)
        self.hub = FrameHub(jpeg_quality=serve.jpeg_quality, stream_fps=serve.stream_fps,
                            placeholder_after_s=serve.placeholder_after_s)
        self.sink = ServeSink(self.hub)
        self.segment: SegmentService | None = None
        self._uvicorn: Any = None
        self._thread: threading.Thread | None = None
        self._closed = False

    @property
    def port(self) -> int:
        return int(self.socket.getsockname()[1])

    @property
    def loopback_only(self) -> bool:
        """Whether only this machine can connect (127.0.0.0/8, ::1, localhost)."""
        address = self.socket.getsockname()[0]
        return address == "::1" or address.startswith("127.")

    @property
    def url(self) -> str:
        host = self.config.serve.host
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        return f"http://{f'[{shown}]' if ':' in shown else shown}:{self.port}/"

    def start(self, pipeline: Pipeline) -> None:
        """Load the /v1/segment engines, then serve on the bound port until ``close``."""
        serve = self.config.serve
        model = dataclasses.replace(self.config.model, path=str(pipeline.model_path))
        self.segment = SegmentService(dataclasses.replace(self.config, model=model))
        stats = StatsCache(pipeline)
        self.hub.state_of = stats.state_of
        app = build_app(pipeline, self.hub, self.segment, stats, token=serve.token,
                        max_viewers=serve.max_viewers, max_upload_bytes=serve.max_upload_bytes,
                        loopback_only=self.loopback_only)
        try:
            self._uvicorn, self._thread = serve_in_thread(app, self.socket, self.hub)
        except RuntimeError:
            self.close()
            raise

    def close(self) -> None:
        """End every stream, stop uvicorn and wait for its thread, free the engines; idempotent."""
        if self._closed:
            return
        self._closed = True
        self.hub.close()
        if self._uvicorn is not None and self._thread is not None:
            stop_thread(self._uvicorn, self._thread)
        if self.segment is not None:
            self.segment.close()
        with contextlib.suppress(OSError):
            self.socket.close()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
