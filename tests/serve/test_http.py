"""The HTTP API of a running pipeline, through real sockets on 127.0.0.1 (httpx; a real ONNX model)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from pipeline import Segmenter
from tests.pipeline.waiting import wait_until
from tests.serve.conftest import looks_like_placeholder, serve_threads, street

pytestmark = pytest.mark.timeout(60)


def metric_values(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus text page, by (name, sorted labels)."""
    values = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


def frames_processed(client: Any, source: str = "street") -> float:
    reply = client.get("/metrics")
    assert reply.status_code == 200
    return metric_values(reply.text)[("segstream_frames_processed_total", (("source", source),))]


def test_health_streams_and_metrics(serve_factory: Callable[..., Any]) -> None:
    with serve_factory() as served:
        client = served.client
        assert client.get("/healthz").json() == {"status": "ok"}
        wait_until(lambda: client.get("/readyz").status_code == 200, what="ready")
        streams = client.get("/v1/streams").json()
        assert [s["id"] for s in streams["streams"]] == ["street"]
        assert streams["classes"][0]["name"] == "road" and streams["classes"][0]["color"].startswith("#")
        assert streams["render"] == {"visualize": "overlay", "alpha": 0.5}

        first = frames_processed(client)
        wait_until(lambda: frames_processed(client) >= first + 5, what="frame counter growth")
        values = metric_values(client.get("/metrics").text)
        names = {name for name, _ in values}
        for expected in ("segstream_frames_dropped_total", "segstream_source_up", "segstream_queue_depth",
                         "segstream_source_reconnects_total", "segstream_class_fraction", "segstream_viewers",
                         "segstream_engine_latency_seconds_bucket", "segstream_e2e_latency_seconds_bucket",
                         "segstream_stage_latency_seconds_bucket"):
            assert expected in names, expected
        assert values[("segstream_source_up", (("source", "street"),))] == 1.0
        # a histogram's buckets are cumulative and end with every observation
        e2e = sorted((float(dict(labels)["le"]), v) for (name, labels), v in values.items()
                     if name == "segstream_e2e_latency_seconds_bucket")
        assert [v for _, v in e2e] == sorted(v for _, v in e2e)
        assert e2e[-1][1] == values[("segstream_e2e_latency_seconds_count", (("source", "street"),))] > 0
        fractions = [v for (name, labels), v in values.items() if name == "segstream_class_fraction"]
        assert len(fractions) == 19 and abs(sum(fractions) - 1.0) < 1e-3


def test_segment_matches_the_in_process_segmenter(serve_factory: Callable[..., Any], tiny_model: Any) -> None:
    rng = np.random.default_rng(3)
    image = cv2.GaussianBlur(rng.integers(0, 255, (180, 300, 3), dtype=np.uint8), (9, 9), 3)
    ok, jpeg = cv2.imencode(".jpg", image)
    decoded = cv2.imdecode(jpeg, cv2.IMREAD_COLOR)  # what the server sees
    with Segmenter.from_model(tiny_model, threads=1) as segmenter:
        expected = segmenter.segment(decoded)
    with serve_factory() as served:
        client = served.client
        reply = client.post("/v1/segment", content=jpeg.tobytes())
        assert reply.status_code == 200 and reply.headers["content-type"] == "image/png"
        class_map = cv2.imdecode(np.frombuffer(reply.content, np.uint8), cv2.IMREAD_UNCHANGED)
        assert class_map.shape == (180, 300) and class_map.dtype == np.uint8
        assert np.array_equal(class_map, expected.class_map)

        fractions = client.post("/v1/segment?format=json", content=jpeg.tobytes()).json()
        assert (fractions["width"], fractions["height"]) == (300, 180)
        assert fractions["fractions"]["road"] == pytest.approx(expected.fraction("road"), abs=1e-5)

        overlay = client.post("/v1/segment?format=overlay", content=jpeg.tobytes())
        assert overlay.headers["content-type"] == "image/jpeg"
        assert cv2.imdecode(np.frombuffer(overlay.content, np.uint8), cv2.IMREAD_COLOR).shape == (180, 300, 3)


def test_bad_requests_get_one_json_error(serve_factory: Callable[..., Any]) -> None:
    with serve_factory(settings=["serve.max_upload_bytes=2048"]) as served:
        client = served.client
        cases = [
            (client.post("/v1/segment", content=b"GIF89a not really"), 415, "not an image"),
            (client.post("/v1/segment", content=b""), 400, "empty"),
            (client.post("/v1/segment", content=bytes(5000)), 413, "max_upload_bytes"),
            (client.post("/v1/segment?format=bmp", content=b"x"), 422, "format"),
            (client.get("/stream/nope.mjpg"), 404, "no stream 'nope'"),
            (client.get("/snapshot/nope.jpg"), 404, "no stream 'nope'"),
            (client.post("/v1/render", content=b'{"alpha": 2}'), 400, "render.alpha"),
            (client.post("/v1/render", content=b'{"visualize": "squash"}'), 400, "allowed values"),
            (client.post("/v1/render", content=b"not json"), 400, "not JSON"),
            (client.get("/v2/nothing"), 404, "Not Found"),
            (client.get("/v1/segment"), 405, "Method Not Allowed"),
        ]
        for reply, status, words in cases:
            assert reply.status_code == status, (reply.status_code, reply.text)
            assert words in reply.json()["error"]


def test_the_token_guards_everything_but_healthz(serve_factory: Callable[..., Any]) -> None:
    with serve_factory(settings=["serve.token=s3cret"]) as served:
        client = served.client
        assert client.get("/healthz").status_code == 200
        for path in ("/", "/v1/streams", "/metrics", "/snapshot/street.jpg", "/readyz"):
            reply = client.get(path)
            assert reply.status_code == 401 and "token" in reply.json()["error"], path
        assert client.get("/v1/streams", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert client.get("/v1/streams", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert client.get("/v1/streams?token=s3cret").status_code == 200
        assert "s3cret" not in client.get("/?token=s3cret").text


def read_parts(client: Any, source: str, count: int) -> list[np.ndarray]:
    """``count`` JPEG parts of a multipart MJPEG stream, parsed by hand and decoded."""
    images: list[np.ndarray] = []
    with client.stream("GET", f"/stream/{source}.mjpg") as reply:
        assert reply.status_code == 200
        assert reply.headers["content-type"] == "multipart/x-mixed-replace; boundary=frame"
        buffer = b""
        for chunk in reply.iter_bytes():
            buffer += chunk
            while True:
                head_end = buffer.find(b"\r\n\r\n")
                if head_end < 0:
                    break
                head = buffer[:head_end].decode()
                assert head.startswith("--frame\r\n") and "Content-Type: image/jpeg" in head
                fields = dict(line.split(": ", 1) for line in head.split("\r\n")[1:])
                length = int(fields["Content-Length"])
                assert 0 < time.monotonic() - float(fields["X-Published"]) < 10  # this machine's monotonic clock
                if len(buffer) < head_end + 4 + length + 2:
                    break
                jpeg = buffer[head_end + 4 : head_end + 4 + length]
                buffer = buffer[head_end + 4 + length + 2 :]
                images.append(cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR))
                if len(images) == count:
                    return images
    raise AssertionError(f"the stream ended after {len(images)} parts")


def test_mjpeg_parts_and_snapshot_show_changing_frames(serve_factory: Callable[..., Any]) -> None:
    with serve_factory() as served:
        images = read_parts(served.client, "street", 4)
        assert all(image.shape == (180, 320, 3) for image in images)
        assert not np.array_equal(images[1], images[3])  # the street moves
        snapshot = served.client.get("/snapshot/street.jpg")
        assert snapshot.headers["content-type"] == "image/jpeg"
        assert cv2.imdecode(np.frombuffer(snapshot.content, np.uint8), cv2.IMREAD_COLOR).shape == (180, 320, 3)


def test_opencv_reads_the_mjpeg_stream(serve_factory: Callable[..., Any]) -> None:
    with serve_factory() as served:
        capture = cv2.VideoCapture(f"{served.url}stream/street.mjpg", cv2.CAP_FFMPEG)
        try:
            assert capture.isOpened()
            frames = []
            for _ in range(4):
                ok, frame = capture.read()
                assert ok
                frames.append(frame)
        finally:
            capture.release()
        assert frames[0].shape == (180, 320, 3)
        assert not np.array_equal(frames[0], frames[3])


def test_viewers_share_one_encode_per_frame(serve_factory: Callable[..., Any]) -> None:
    """Five viewers, and a sixth that never reads: JPEGs are encoded once per frame, not per viewer,
    and the reader that stalls holds up neither the others nor the pipeline."""
    with serve_factory(settings=["serve.stream_fps=100"]) as served:
        stalled = socket.create_connection(("127.0.0.1", served.server.port))
        stalled.sendall(b"GET /stream/street.mjpg HTTP/1.1\r\nHost: x\r\n\r\n")
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        counts = [0] * 5

        def watch(i: int) -> None:
            counts[i] = len(read_parts(served.client, "street", 12))

        threads = [threading.Thread(target=watch, args=(i,)) for i in range(5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert counts == [12] * 5
        hub = served.server.hub
        published = served.pipeline.stats()["sources"]["street"]["frames"]
        assert hub.encodes()["street"] <= published + 3  # one per frame (a placeholder or two at the start)
        frames = frames_processed(served.client)
        wait_until(lambda: frames_processed(served.client) >= frames + 10, what="frames with a stalled viewer")
        stalled.close()


def test_render_control_switches_the_stream(serve_factory: Callable[..., Any]) -> None:
    with serve_factory() as served:
        client = served.client
        wait_until(lambda: client.get("/snapshot/street.jpg").status_code == 200, what="a snapshot")
        assert client.post("/v1/render", content=json.dumps({"visualize": "side", "alpha": 0.2})).json() == {
            "visualize": "side", "alpha": 0.2}

        def width() -> int:
            jpeg = client.get("/snapshot/street.jpg").content
            return int(cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR).shape[1])

        wait_until(lambda: width() == 640, what="a side-by-side frame")
        assert client.get("/v1/streams").json()["render"] == {"visualize": "side", "alpha": 0.2}


def test_a_quiet_source_shows_a_placeholder_and_the_server_ends_with_the_pipeline(
    serve_factory: Callable[..., Any],
) -> None:
    with serve_factory([street(), street(frames=15, seed=2)]) as served:
        client = served.client
        wait_until(lambda: client.get("/v1/streams").json()["streams"][1]["state"] == "finished", what="the end")
        ended = time.monotonic()
        images = read_parts(client, "street_1", 2)  # its last frame, then the placeholder (1 s after it)
        assert time.monotonic() - ended < 2.0
        assert images[-1].shape == (180, 320, 3) and looks_like_placeholder(images[-1])
        assert not looks_like_placeholder(read_parts(client, "street", 1)[0])  # the other street goes on
        snapshot = cv2.imdecode(np.frombuffer(client.get("/snapshot/street_1.jpg").content, np.uint8), cv2.IMREAD_COLOR)
        assert looks_like_placeholder(snapshot)  # never the frozen last frame
        streaming = client.stream("GET", "/stream/street.mjpg")
        reply = streaming.__enter__()
        stopped = time.monotonic()
        served.pipeline.stop()
        served.pipeline.join(10)
        served.server.close()
        for _ in reply.iter_bytes():  # the open stream ends instead of hanging
            pass
        streaming.__exit__(None, None, None)
        assert time.monotonic() - stopped < 5.0
    assert serve_threads() == []


def test_no_camera_credential_reaches_a_response(serve_factory: Callable[..., Any]) -> None:
    """A network camera with a password in its URL (here: another server's MJPEG stream, read by
    OpenCV): the password appears in no response, page or metric."""
    with serve_factory() as camera:
        url = camera.url.replace("http://", "http://viewer:hunter2@") + "stream/street.mjpg"
        with serve_factory([url], settings=["source.reconnect.open_timeout_s=10"]) as served:
            client = served.client
            wait_until(lambda: frames_processed(client, "127.0.0.1") >= 3, timeout=30, what="frames from the camera")
            bodies = [client.get(path).text for path in ("/v1/streams", "/metrics", "/", "/app.js", "/readyz")]
            with client.stream("GET", "/v1/events") as events:
                bodies.append(next(events.iter_text()))
            bodies.append(client.get("/snapshot/nothing.jpg").text)
            assert "127.0.0.1" in bodies[0]
            for body in bodies:
                assert "hunter2" not in body and "viewer:" not in body
