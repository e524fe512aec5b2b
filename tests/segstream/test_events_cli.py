"""Zone events from the command line: --mqtt to a real Mosquitto broker, --jsonl, and the errors
a user sees before the first frame (one line, exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

from segcore.labels import CITYSCAPES
from tests.mqtt_broker import MqttBroker, Subscriber, free_port, require_broker
from tests.segstream.test_run import SMALL, assert_user_error, run

ALL_CLASSES = json.dumps(list(CITYSCAPES.class_names))


def zones_file(tmp_path: Path, source: str = "street", classes: str = ALL_CLASSES) -> Path:
    path = tmp_path / "zones.yaml"
    path.write_text(
        f"zones:\n  {source}:\n    - name: all\n      polygon: [[0, 0], [1, 0], [1, 1], [0, 1]]\n"
        f"      classes: {classes}\n      enter: 0.01\n      exit: 0.01\n      update_interval_s: 100\n"
    )
    return path


def test_zone_events_reach_mqtt_and_the_jsonl_file(tiny_model: Path, tmp_path: Path) -> None:
    require_broker()
    with MqttBroker(tmp_path) as broker, Subscriber(broker.port, "segstream/#") as subscriber:
        result = run(SMALL.format(n=6), "--model", str(tiny_model), "--config", str(zones_file(tmp_path)),
                     "--mqtt", broker.url, "--jsonl", str(tmp_path / "run.jsonl"))
        assert result.returncode == 0, result.stderr
        lines = [json.loads(line) for line in (tmp_path / "run.jsonl").read_text().splitlines()]
        events = [line["event"] for line in lines if "event" in line]
        got = subscriber.wait_for(len(events))
    # every class whose share passed 1 % started an event, and each ended (at the latest when the run stopped)
    starts = {e["id"] for e in events if e["type"] == "start"}
    assert starts and starts == {e["id"] for e in events if e["type"] == "end"}
    assert [payload for _, payload in got] == events
    assert all(topic == f"segstream/street/all/{p['class']}" for topic, p in got)
    assert f"zone events: {len(events)} (mqtt: {len(events)} sent, 0 dropped" in result.stdout


def test_event_settings_the_run_cannot_use_are_one_line_before_the_first_frame(tiny_model: Path, tmp_path: Path) -> None:
    small = SMALL.format(n=2)
    assert_user_error(run(small, "--model", str(tiny_model), "--mqtt", "mqtt://127.0.0.1:1883"), "no zones")
    assert_user_error(run(small, "--model", str(tiny_model), "--config", str(zones_file(tmp_path, source="cam"))),
                      "no source 'cam'", "its sources are street")
    assert_user_error(run(small, "--model", str(tiny_model), "--config", str(zones_file(tmp_path, classes="[rood]"))),
                      "no class 'rood' (did you mean 'road'?)")
    assert_user_error(run(small, "--model", str(tiny_model), "--config", str(zones_file(tmp_path)),
                          "--webhook", "ftp://u:secret@x/"), "--webhook ftp://***@x/", "http:// or https://")
    unreachable = run(small, "--model", str(tiny_model), "--config", str(zones_file(tmp_path)),
                      "--mqtt", f"mqtt://127.0.0.1:{free_port()}", "--jsonl", str(tmp_path / "none.jsonl"))
    assert_user_error(unreachable, "cannot reach the MQTT broker")
    assert not (tmp_path / "none.jsonl").exists()
