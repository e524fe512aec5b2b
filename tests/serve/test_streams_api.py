"""POST /v1/streams and DELETE /v1/streams/{id}: sources added and removed while the server runs,
through real sockets on 127.0.0.1 (httpx; a real ONNX model, real synthetic streets)."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
import pytest

from pipeline import Pipeline, load_config
from serve.app import StatsCache, build_app
from serve.hub import FrameHub
from serve.segment import SegmentService
from serve.server import bind, serve_in_thread, stop_thread
from serve.sink import ServeSink
from tests.pipeline.waiting import wait_until
from tests.serve.conftest import street, zone_everywhere
from tests.serve.test_http import read_parts

pytestmark = pytest.mark.timeout(90)


def listed(client: httpx.Client) -> list[str]:
    return [s["id"] for s in client.get("/v1/streams").json()["streams"]]


def test_a_stream_added_and_removed_while_running(serve_factory: Callable[..., Any]) -> None:
    with serve_factory() as served:
        client = served.client
        reply = client.post("/v1/streams", content=json.dumps({"uri": street(seed=7), "id": "door"}))
        assert reply.status_code == 201, reply.text
        assert reply.headers["location"] == "/v1/streams/door"
        assert reply.json() | {"uri": "", "state": ""} == {"id": "door", "uri": "", "live": True, "state": "",
                                                           "width": 320, "height": 180, "fps": 15.0}
        assert listed(client) == ["street", "door"]
        images = read_parts(client, "door", 3)
        assert not np.array_equal(images[0], images[2])  # its own moving street
        assert client.get("/snapshot/door.jpg").status_code == 200

        # a viewer watching it when it is removed: the stream ends instead of hanging
        ended = threading.Event()

        def watch() -> None:
            with client.stream("GET", "/stream/door.mjpg") as stream:
                for _ in stream.iter_bytes():
                    pass
            ended.set()

        viewer = threading.Thread(target=watch, daemon=True)
        viewer.start()
        wait_until(lambda: served.server.hub.viewers().get("door") == 1, what="the viewer")
        removed_at = time.monotonic()
        reply = client.delete("/v1/streams/door")
        assert (reply.status_code, reply.json()) == (200, {"id": "door", "state": "removed"})
        assert ended.wait(5.0) and time.monotonic() - removed_at < 5.0
        assert listed(client) == ["street"]
        assert client.get("/stream/door.mjpg").status_code == 404
        assert client.get("/snapshot/door.jpg").status_code == 404
        assert served.pipeline.stats()["sources"]["door"]["state"] == "removed"
        assert read_parts(client, "street", 2)  # the other street goes on

        again = client.delete("/v1/streams/door")
        assert again.status_code == 404 and "no stream 'door'" in again.json()["error"]
        last = client.delete("/v1/streams/street")
        assert last.status_code == 409 and "only one still reading" in last.json()["error"]
        reused = client.post("/v1/streams", content=json.dumps({"uri": street(seed=8), "id": "door"}))
        assert reused.status_code == 409 and "taken" in reused.json()["error"]
        named = client.post("/v1/streams", content=json.dumps({"uri": street(seed=9)}))
        assert named.status_code == 201 and named.json()["id"] not in ("street", "door")


def test_bad_stream_requests_get_one_json_error(serve_factory: Callable[..., Any]) -> None:
    with serve_factory() as served:
        client = served.client
        for body, status, says in [
            (b"not json", 400, "send a JSON object"),
            (json.dumps({"url": street()}).encode(), 400, "send a JSON object"),
            (json.dumps({"uri": street(), "id": "../etc"}).encode(), 400, "an id is"),
            (json.dumps({"uri": "synthetic://nowhere"}).encode(), 422, "synthetic"),
            (json.dumps({"uri": "/no/such/clip.mp4"}).encode(), 422, "clip.mp4"),
            (json.dumps({"uri": "x" * 70_000}).encode(), 413, "larger than"),
        ]:
            reply = client.post("/v1/streams", content=body)
            assert reply.status_code == status, (body, reply.text)
            assert reply.headers["content-type"] == "application/json"
            assert says in reply.json()["error"]
        assert listed(client) == ["street"]


def test_an_added_camera_never_shows_its_credentials(serve_factory: Callable[..., Any]) -> None:
    with serve_factory(settings=["source.reconnect.open_timeout_s=1"]) as served:
        client = served.client
        reply = client.post("/v1/streams", content=json.dumps({"uri": "rtsp://admin:hunter2@127.0.0.1:9/cam"}))
        assert reply.status_code == 201, reply.text  # a camera that does not answer yet is retried, as at start
        camera = reply.json()["id"]
        bodies = [reply.text, client.get("/v1/streams").text, client.get("/metrics").text]
        assert camera in bodies[1]
        assert client.delete(f"/v1/streams/{camera}").status_code == 200
        assert all("hunter2" not in body for body in bodies)


def test_a_server_beyond_this_machine_without_a_token_refuses_source_changes(tiny_model: Any) -> None:
    """The refusal as a server on another address would give it (the tests listen on 127.0.0.1 only)."""
    config = load_config(None, [f"model.path={tiny_model}", "source.pace=true", "source.synthetic_cache=null",
                                "runtime.infer_workers=1"], values={"source.uris": [street()]})
    hub = FrameHub()
    pipeline = Pipeline.from_config(config, sinks=[ServeSink(hub)])
    pipeline.start()
    segment = SegmentService(dataclasses.replace(config, model=dataclasses.replace(config.model, path=str(pipeline.model_path))))
    app = build_app(pipeline, hub, segment, StatsCache(pipeline), token=None, max_viewers=10,
                    max_upload_bytes=1 << 20, loopback_only=False)
    sock = bind("127.0.0.1", 0)
    server, thread = serve_in_thread(app, sock, hub)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{sock.getsockname()[1]}", timeout=10.0) as client:
            added = client.post("/v1/streams", content=json.dumps({"uri": street(seed=3)}))
            removed = client.delete("/v1/streams/street")
            assert added.status_code == removed.status_code == 403
            assert "needs serve.token" in added.json()["error"]
            assert listed(client) == ["street"]
    finally:
        pipeline.stop()
        pipeline.join(10)
        hub.close()
        stop_thread(server, thread)
        segment.close()
        sock.close()


def test_the_zone_events_of_a_removed_source_end_as_removed(serve_factory: Callable[..., Any]) -> None:
    zone = zone_everywhere()
    with serve_factory([street(), street(seed=2)], settings=[zone]) as served:
        client = served.client
        wait_until(lambda: client.get("/v1/streams").json()["zones"]["active"], what="a zone event under way")
        assert client.delete("/v1/streams/street").status_code == 200
        zones = client.get("/v1/streams").json()["zones"]
        assert zones["active"] == []  # ended at once, not at the end of the run
        removed = [e for e in zones["recent"] if e.get("reason") == "removed"]
        assert removed and all(e["type"] == "end" and e["source"] == "street" for e in removed)
        time.sleep(0.5)  # its frames still on their way start nothing
        assert client.get("/v1/streams").json()["zones"]["active"] == []
