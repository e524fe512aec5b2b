"""Zone events leaving the process, with real parts: Debian's Mosquitto broker on 127.0.0.1 and a
paho subscriber, a real HTTP server for the webhook, a real pipeline (ONNX Runtime, a push source
with hand-made frames whose class map is known) and the JSONL file."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pipeline import Pipeline, PushSource, Segmenter
from pipeline.config_schema import EventsConfig, ZoneConfig
from pipeline.events.event import ZoneEvent
from pipeline.events.mqtt import MqttPublisher
from pipeline.events.webhook import WebhookPublisher
from pipeline.sinks.events import build_event_sink, event_hub
from pipeline.sinks.jsonl import JsonlSink
from segcore.errors import OutputError
from segcore.labels import CITYSCAPES
from tests.mqtt_broker import MqttBroker, Subscriber, free_port, require_broker
from tests.pipeline.waiting import wait_until

H, W = 180, 320
NAMES = CITYSCAPES.class_names


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MqttBroker]:
    require_broker()
    with MqttBroker(tmp_path) as running:
        yield running


def event(index: int, kind: str = "update") -> ZoneEvent:
    return ZoneEvent(type=kind, id="cam/z/road/1", source="cam", zone="z", class_name="road",  # type: ignore[arg-type]
                     fraction=0.5, pts=float(index), index=index, wall_time=time.time(), duration_s=0.0)


def two_colours(model: Path) -> tuple[np.ndarray, int, np.ndarray, int]:
    """Two BGR colours the model gives different classes, each with its class (asked of the model itself)."""
    with Segmenter.from_model(model) as segmenter:
        seen: dict[int, np.ndarray] = {}
        for value in [(0, 0, 0), (255, 255, 255), (255, 0, 0), (0, 255, 0), (0, 0, 255), (0, 255, 255), (255, 0, 255)]:
            colour = np.array(value, np.uint8)
            classes = np.unique(segmenter.segment(np.full((H, W, 3), colour, np.uint8)).class_map)
            if len(classes) == 1 and int(classes[0]) not in seen:
                seen[int(classes[0])] = colour
            if len(seen) == 2:
                (a, colour_a), (b, colour_b) = seen.items()
                return colour_a, a, colour_b, b
    raise AssertionError("no two plain colours with different classes")


def test_a_real_subscriber_gets_start_update_end_and_the_jsonl_file_the_same(
    tiny_model: Path, broker: MqttBroker, tmp_path: Path
) -> None:
    colour_a, class_a, colour_b, _ = two_colours(tiny_model)
    name = NAMES[class_a]
    left = ZoneConfig(name="left", polygon=[[0, 0], [0.5, 0], [0.5, 1], [0, 1]], classes=[name],
                      enter=0.8, exit=0.5, update_interval_s=2.0)
    zones = build_event_sink({"cam": [left]}, EventsConfig(mqtt=f"{broker.url}/site1"), source_ids=["cam"],
                             class_names=NAMES)
    assert zones is not None
    jsonl = JsonlSink(tmp_path / "run.jsonl", class_names=NAMES, events=zones.hub)
    plain = np.full((H, W, 3), colour_b, np.uint8)
    marked = plain.copy()
    marked[:, : W // 2] = colour_a  # the zone exactly: class_a covers it from frame 3 to frame 7
    source = PushSource("cam", live=False)
    with Subscriber(broker.port, "site1/#") as subscriber:
        with Pipeline([source], [zones, jsonl], model=tiny_model) as pipe:
            assert event_hub(pipe.sinks) is zones.hub and event_hub([jsonl]) is None
            for index in range(10):
                source.push(marked if 3 <= index <= 7 else plain, pts=float(index))
            source.end()
            pipe.join(timeout=30.0)
        got = subscriber.wait_for(4)
    time.sleep(0.2)  # nothing more should come
    assert len(subscriber.messages) == 4
    assert {topic for topic, _ in got} == {f"site1/cam/left/{name}"}
    payloads = [payload for _, payload in got]
    assert [(p["type"], p["index"], p["pts"]) for p in payloads] == [
        ("start", 3, 3.0), ("update", 5, 5.0), ("update", 7, 7.0), ("end", 8, 8.0)]
    assert payloads[0]["fraction"] >= 0.8 and payloads[-1]["fraction"] < 0.5 and payloads[-1]["reason"] == "exit"
    assert {p["id"] for p in payloads} == {f"cam/left/{name}/1"} and payloads[-1]["duration_s"] == 5.0
    assert all(p["source"] == "cam" and p["zone"] == "left" and p["class"] == name for p in payloads)
    assert payloads[0]["wall_time"] <= payloads[-1]["wall_time"] <= time.time()
    lines = [json.loads(line) for line in (tmp_path / "run.jsonl").read_text().splitlines()]
    assert [line["event"] for line in lines if "event" in line] == payloads
    assert sum("event" not in line for line in lines) == 10
    assert zones.stats()["mqtt"]["sent"] == 4 and zones.stats()["events"] == 4


def test_a_broker_that_cannot_be_reached_is_refused_at_open() -> None:
    publisher = MqttPublisher(f"mqtt://user:secret@127.0.0.1:{free_port()}", timeout_s=2.0)
    with pytest.raises(OutputError, match=r"cannot reach the MQTT broker mqtt://127\.0\.0\.1:\d+/segstream: ") as caught:
        publisher.open()
    assert "secret" not in str(caught.value) and "\n" not in str(caught.value)


def test_events_wait_while_the_broker_is_away_are_dropped_when_full_and_never_block(broker: MqttBroker) -> None:
    publisher = MqttPublisher(broker.url, queue_size=3, timeout_s=5.0)
    publisher.open()
    try:
        broker.stop()
        wait_until(lambda: not publisher._connected.is_set(), what="disconnect")
        started = time.monotonic()
        for index in range(6):
            publisher(event(index))
        assert time.monotonic() - started < 0.5  # handing over never waits for the network
        dropped = publisher.stats()["dropped"]
        assert dropped in (2, 3)  # one may already be out of the queue, waiting for the broker
        broker.start()
        with Subscriber(broker.port, "segstream/#") as subscriber:
            got = subscriber.wait_for(6 - dropped, timeout=30.0)
        assert [payload["index"] for _, payload in got] == list(range(6 - dropped))
        assert publisher.reconnects >= 1
    finally:
        publisher.close()
    assert publisher.stats()["sent"] == 6 - dropped


class Hook(http.server.BaseHTTPRequestHandler):
    answers: list[int] = []  # status codes to give, in order; then 200
    bodies: list[dict[str, Any]] = []

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        status = self.answers.pop(0) if self.answers else 200
        if status == 200:
            self.bodies.append(body)
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def hook() -> Iterator[tuple[str, type[Hook]]]:
    handler = type("FreshHook", (Hook,), {"answers": [], "bodies": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/events", handler
    server.shutdown()
    server.server_close()


def test_webhook_posts_every_event_in_order_and_retries_a_server_error(hook: tuple[str, type[Hook]]) -> None:
    url, handler = hook
    handler.answers.extend([503])
    publisher = WebhookPublisher(url, timeout_s=5.0, retries=2)
    publisher.open()
    for index in range(3):
        publisher(event(index))
    publisher.close()
    assert [body["index"] for body in handler.bodies] == [0, 1, 2]
    assert handler.bodies[0] == event(0).to_dict() | {"wall_time": handler.bodies[0]["wall_time"]}
    assert publisher.stats()["sent"] == 3 and publisher.stats()["retried"] == 1 and publisher.stats()["failed"] == 0


def test_webhook_gives_up_on_a_client_error_at_once_and_counts_it(hook: tuple[str, type[Hook]]) -> None:
    url, handler = hook
    handler.answers.extend([400])
    publisher = WebhookPublisher(url, timeout_s=5.0, retries=3)
    publisher.open()
    publisher(event(0))
    publisher(event(1))
    publisher.close()
    stats = publisher.stats()
    assert stats["failed"] == 1 and stats["retried"] == 0 and stats["sent"] == 1
    assert "HTTP 400" in stats["last_error"] and [body["index"] for body in handler.bodies] == [1]


def test_webhook_to_nowhere_ends_within_its_flush_time() -> None:
    publisher = WebhookPublisher(f"http://127.0.0.1:{free_port()}/x", timeout_s=0.5, retries=100)
    publisher.open()
    publisher(event(0))
    started = time.monotonic()
    publisher.close()
    assert time.monotonic() - started < 3.0
    assert publisher.stats()["undelivered"] == 1 and publisher.stats()["sent"] == 0
