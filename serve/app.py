"""The HTTP routes (FastAPI), over one running pipeline.

    GET  /                       the page: a tile per source (static/index.html, static/app.js)
    GET  /healthz                200 while the process serves (no token needed)
    GET  /readyz                 200 once the pipeline runs, else 503
    GET  /v1/streams             sources, states, stats, viewers; the classes; the render mode;
                                 with zones: the zone events under way and the last ones
    POST /v1/streams             {"uri": ..., "id": ...}: open a source and read it from now on (201)
    DELETE /v1/streams/{id}      stop reading a source and close it (its viewers' streams end)
    GET  /v1/events              the same, pushed twice a second (server-sent events)
    POST /v1/render              {"visualize": ..., "alpha": ...}: how frames are drawn from now on
    GET  /stream/{source}.mjpg   multipart MJPEG, the newest picture, shared by every viewer
    GET  /snapshot/{source}.jpg  one JPEG of the newest picture
    POST /v1/segment             an image in the body → class map PNG (?format=json | overlay)
    GET  /metrics                Prometheus text format

Every error is JSON ``{"error": "..."}`` with a 4xx (or 503) code. With ``serve.token`` set, every
route but /healthz needs ``Authorization: Bearer TOKEN`` or ``?token=TOKEN`` (the page passes the
token of its own address on to the streams it opens). Camera URLs appear only redacted. A server
that listens beyond this machine without a token refuses to add or remove sources (403): anyone
who can reach it could make it open any address or file this process can.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import re
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from pipeline import Pipeline
from pipeline.errors import SourceChangeRefused, UnknownSource
from pipeline.sinks.events import event_hub
from segcore.errors import SourceError, UserInputError
from segcore.redact import redact_text, redact_uri
from serve.exporter import CONTENT_TYPE, PipelineCollector, exposition, registry_for
from serve.hub import FrameHub
from serve.segment import SegmentService

STATIC = Path(__file__).resolve().parent / "static"
BOUNDARY = "frame"
EVENTS_INTERVAL_S = 0.5
RECENT_EVENTS = 10  # zone events listed in /v1/streams and on the page
STATS_MAX_AGE_S = 0.25  # stats() is shared by every request within this long
MAX_JSON_BYTES = 64 * 1024  # the JSON bodies of /v1/render and /v1/streams are a few dozen bytes
STREAM_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")  # ids name files and URL paths


class StatsCache:
    """``Pipeline.stats()`` at most once per ``STATS_MAX_AGE_S``, for every route and the placeholder."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self._lock = threading.Lock()
        self._at = -1.0
        self._stats: dict[str, Any] = {}

    def __call__(self) -> dict[str, Any]:
        with self._lock:
            now = time.monotonic()
            if now - self._at > STATS_MAX_AGE_S:
                self._stats, self._at = self.pipeline.stats(), now
            return self._stats

    def refresh(self) -> None:
        """The next call takes a new snapshot (a source was added or removed)."""
        with self._lock:
            self._at = -1.0

    def state_of(self, source_id: str) -> str:
        return str(self().get("sources", {}).get(source_id, {}).get("state", "unknown"))


class MjpegParts:
    """The MJPEG streams of a hub: each part (head + JPEG) is built once, on the event loop's
    thread, and the same bytes go to every viewer of that source."""

    def __init__(self, hub: FrameHub) -> None:
        self.hub = hub
        self._newest: dict[str, tuple[int, bytes]] = {}  # per source: the newest part and its number

    def part(self, source_id: str, seq: int, jpeg: bytes, published: float) -> bytes:
        """X-Published: when its frame left the pipeline (this machine's monotonic clock)."""
        cached = self._newest.get(source_id)
        if cached is not None and cached[0] == seq:
            return cached[1]
        head = (f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n"
                f"X-Published: {published:.6f}\r\n\r\n")
        part = head.encode() + jpeg + b"\r\n"
        self._newest[source_id] = (seq, part)
        return part

    def response(self, source_id: str) -> StreamingResponse | None:
        """A viewer's stream: the newest JPEG now, then each new one; it ends when the hub closes
        or the source is removed. None when there is no such stream (any more)."""
        hub = self.hub
        if not hub.join_viewer(source_id):
            return None

        async def parts() -> AsyncIterator[bytes]:
            try:
                seq = 0
                while not hub.closed and hub.has(source_id):
                    jpeg, seq, published = await hub.next_jpeg(source_id, seq)
                    if jpeg is not None:
                        yield self.part(source_id, seq, jpeg, published)
            finally:
                hub.leave_viewer(source_id)

        return StreamingResponse(parts(), media_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


async def _capped_body(request: Request, limit: int) -> bytes:
    """The request's body, read as it arrives; ``TooLarge`` as soon as it passes ``limit`` bytes."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise TooLarge
    return bytes(body)


async def _json_body(request: Request) -> Any:
    """The request's JSON body; ``TooLarge`` past ``MAX_JSON_BYTES``, None when it is not JSON."""
    body = await _capped_body(request, MAX_JSON_BYTES)
    try:
        return json.loads(body or b"{}")
    except ValueError:
        return None


class TooLarge(Exception):
    """A body longer than its route takes."""


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


class TokenGate:
    """ASGI middleware: without the token, 401 JSON (``/healthz`` is always open)."""

    def __init__(self, app: Any, token: str) -> None:
        self.app, self.token = app, token.encode()

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] != "http" or scope["path"] == "/healthz" or self._allowed(scope):
            await self.app(scope, receive, send)
            return
        response = _error(401, "this server needs a token: send 'Authorization: Bearer TOKEN' or add ?token=TOKEN")
        response.headers["WWW-Authenticate"] = "Bearer"
        await response(scope, receive, send)

    def _allowed(self, scope: dict[str, Any]) -> bool:
        for name, value in scope.get("headers", []):
            if name == b"authorization" and value[:7].lower() == b"bearer ":
                return hmac.compare_digest(value[7:].strip(), self.token)
        given = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [""])[0]
        return hmac.compare_digest(given.encode(), self.token)


def build_app(pipeline: Pipeline, hub: FrameHub, segment: SegmentService, stats: StatsCache, *,
              token: str | None, max_viewers: int, max_upload_bytes: int, loopback_only: bool = True) -> Any:
    app = FastAPI(title="segstream", docs_url=None, redoc_url=None, openapi_url=None)
    meta = pipeline.meta
    classes = [{"name": n, "color": "#{:02x}{:02x}{:02x}".format(*c)} for n, c in zip(meta.class_names, meta.palette, strict=False)]
    registry = registry_for(PipelineCollector(stats, pipeline.metrics.histograms, hub, meta.class_names))
    zone_events = event_hub(pipeline.sinks)

    def streams() -> dict[str, Any]:
        summary, viewers = stats(), hub.viewers()
        listed = []
        for source_id, section in summary.get("sources", {}).items():
            if section.get("state") == "removed":
                continue
            age = hub.last_frame_age(source_id)
            listed.append({
                "id": source_id, "uri": redact_uri(str(section.get("uri", ""))), "state": section.get("state"),
                "live": section.get("live"), "frames": section.get("frames", 0), "fps": section.get("fps_recent", 0.0),
                "e2e_latency_ms": section.get("e2e_latency_ms", {}), "dropped": section.get("dropped", 0),
                "viewers": viewers.get(source_id, 0),
                "last_frame_age_s": None if age is None else round(age, 3),
                "reconnects": section.get("reconnects", 0),
            })
        visualize, alpha = pipeline.render_view
        reply = {"state": summary.get("state"), "streams": listed, "classes": classes,
                 "render": {"visualize": visualize, "alpha": alpha}}
        if zone_events is not None:  # the run has zones: what is going on in them, and the last events
            reply["zones"] = {"active": [e.to_dict() for e in zone_events.active()],
                              "recent": [e.to_dict() for e in zone_events.recent()[-RECENT_EVENTS:]]}
        return reply

    parts = MjpegParts(hub)

    def unknown(source_id: str) -> JSONResponse:
        return _error(404, f"no stream {source_id!r}; GET /v1/streams lists them ({', '.join(hub.source_ids()) or 'none yet'})")

    def known(source_id: str) -> JSONResponse | None:
        return None if hub.has(source_id) else unknown(source_id)

    def may_change_sources() -> JSONResponse | None:
        if token or loopback_only:
            return None
        return _error(403, "this server listens beyond this machine without a token: adding or removing sources "
                           "needs serve.token")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        hint = ("; routes: /, /stream/SOURCE.mjpg, /snapshot/SOURCE.jpg, /v1/streams[/ID], /v1/events, /v1/render, "
                "/v1/segment, /metrics, /healthz, /readyz") if exc.status_code == 404 else ""
        return _error(exc.status_code, f"{request.method} {request.url.path}: {exc.detail}{hint}")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        ready = pipeline.running and bool(hub.source_ids()) and not hub.closed
        return JSONResponse({"ready": ready, "state": pipeline.state.value}, status_code=200 if ready else 503)

    @app.get("/v1/streams")
    async def list_streams() -> dict[str, Any]:
        return await asyncio.to_thread(streams)

    @app.post("/v1/streams")
    async def add_stream(request: Request) -> JSONResponse:
        refused = may_change_sources()
        if refused is not None:
            return refused
        try:
            body = await _json_body(request)
        except TooLarge:
            return _error(413, f"the body is larger than {MAX_JSON_BYTES} bytes; send a small JSON object")
        if not isinstance(body, dict) or not isinstance(body.get("uri"), str) or set(body) - {"uri", "id"}:
            return _error(400, 'send a JSON object {"uri": "rtsp://camera/stream", "id": "door"} ("id" optional)')
        source_id = body.get("id")
        if source_id is not None and (not isinstance(source_id, str) or not STREAM_ID.fullmatch(source_id)):
            return _error(400, "an id is 1 to 64 letters, digits, '_', '.' or '-', starting with a letter or digit")
        try:
            added_id = await asyncio.to_thread(pipeline.add_source, body["uri"].strip(), source_id=source_id)
        except SourceChangeRefused as exc:
            return _error(409, redact_text(str(exc)))
        except (SourceError, UserInputError) as exc:  # the address cannot be used or opened
            return _error(422, redact_text(str(exc)))
        stats.refresh()
        info, section = pipeline.sources[added_id], stats()["sources"][added_id]
        added = {"id": added_id, "uri": redact_uri(info.uri), "live": section["live"], "state": section["state"],
                 "width": info.width, "height": info.height, "fps": info.fps}
        return JSONResponse(added, status_code=201, headers={"Location": f"/v1/streams/{added_id}"})

    @app.delete("/v1/streams/{source_id}")
    async def remove_stream(source_id: str) -> JSONResponse:
        refused = may_change_sources()
        if refused is not None:
            return refused
        try:
            await asyncio.to_thread(pipeline.remove_source, source_id)
        except UnknownSource:
            return unknown(source_id)
        except SourceChangeRefused as exc:
            return _error(409, redact_text(str(exc)))
        stats.refresh()
        return JSONResponse({"id": source_id, "state": "removed"})

    @app.get("/v1/events")
    async def events() -> StreamingResponse:
        async def push() -> AsyncIterator[bytes]:
            while not hub.closed:
                yield f"data: {json.dumps(await asyncio.to_thread(streams))}\n\n".encode()
                await asyncio.sleep(EVENTS_INTERVAL_S)
        return StreamingResponse(push(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})

    @app.post("/v1/render")
    async def set_render(request: Request) -> JSONResponse:
        try:
            body = await _json_body(request)
        except TooLarge:
            return _error(413, f"the body is larger than {MAX_JSON_BYTES} bytes; send a small JSON object")
        if body is None:
            return _error(400, 'the body is not JSON; send {"visualize": "overlay", "alpha": 0.5}')
        if not isinstance(body, dict) or set(body) - {"visualize", "alpha"}:
            return _error(400, 'send a JSON object with "visualize" (overlay, mask, side) and/or "alpha" (0..1)')
        visualize, alpha = body.get("visualize"), body.get("alpha")
        if visualize == "none":
            return _error(400, "visualize 'none' would leave the streams without a picture; choose overlay, mask or side")
        try:
            pipeline.set_render(visualize, None if alpha is None else float(alpha))
        except (UserInputError, TypeError, ValueError) as exc:
            return _error(400, str(exc))
        visualize, alpha = pipeline.render_view
        return JSONResponse({"visualize": visualize, "alpha": alpha})

    @app.get("/stream/{source_id}.mjpg", response_model=None)
    async def stream(source_id: str) -> Response:
        unknown = known(source_id)
        if unknown is not None:
            return unknown
        if hub.total_viewers() >= max_viewers:
            return _error(503, f"{max_viewers} viewers are connected already (serve.max_viewers)")
        return parts.response(source_id) or unknown(source_id)

    @app.get("/snapshot/{source_id}.jpg", response_model=None)
    async def snapshot(source_id: str) -> Response:
        unknown = known(source_id)
        if unknown is not None:
            return unknown
        try:
            jpeg = await asyncio.to_thread(hub.snapshot, source_id)
        except KeyError:  # removed meanwhile
            return unknown(source_id)
        return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    @app.post("/v1/segment", response_model=None)
    async def segment_image(request: Request, format: str = "png") -> Response:  # noqa: A002 - the query name
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_upload_bytes:
            return _error(413, f"the body has {declared} bytes, more than serve.max_upload_bytes ({max_upload_bytes})")
        try:
            body = await _capped_body(request, max_upload_bytes)
        except TooLarge:
            return _error(413, f"the body is larger than serve.max_upload_bytes ({max_upload_bytes})")
        reply = await segment.handle(body, format)
        return Response(reply.body, status_code=reply.status, media_type=reply.media_type)

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(await asyncio.to_thread(exposition, registry), media_type=CONTENT_TYPE)

    @app.get("/")
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    @app.get("/app.js")
    async def script() -> FileResponse:
        return FileResponse(STATIC / "app.js", media_type="text/javascript", headers={"Cache-Control": "no-store"})

    return TokenGate(app, token) if token else app
