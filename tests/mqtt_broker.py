"""A real MQTT broker for tests: Debian's Mosquitto on 127.0.0.1, and a real paho subscriber.

    with MqttBroker(tmp_path) as broker:            # mosquitto -c CONF, listening on broker.port
        with Subscriber(broker.port, "segstream/#") as sub:
            ...; sub.wait_for(3)                    # the messages received, as (topic, JSON payload)
        broker.stop(); broker.start()               # a broker that goes away and comes back

``unavailable_reason()`` says why the broker cannot run here (None when it can); ``APT_COMMAND``
installs it. Tests skip without it, and fail instead when ``CI=true``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
APT_COMMAND = "sudo apt-get install -y mosquitto"
HOST = "127.0.0.1"


def unavailable_reason() -> str | None:
    if not os.access(MOSQUITTO, os.X_OK):
        return f"Mosquitto is not installed ({APT_COMMAND})"
    return None


def require_broker() -> None:
    reason = unavailable_reason()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and the MQTT broker cannot run: {reason}")
        pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


class MqttBroker:
    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.config = folder / "mosquitto.conf"
        self.config.write_text(f"listener {self.port} {HOST}\nallow_anonymous true\npersistence false\n")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{HOST}:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen([MOSQUITTO, "-c", str(self.config)], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            try:
                socket.create_connection((HOST, self.port), timeout=0.5).close()
                return
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError(f"mosquitto exited with {self.process.returncode}") from None
                time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not listen on {self.port} within 10 s")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(5.0)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None

    def __enter__(self) -> MqttBroker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Subscriber:
    """A paho client subscribed to ``topic`` (QoS 1) that keeps every message it receives."""

    def __init__(self, port: int, topic: str) -> None:
        import paho.mqtt.client as mqtt

        self.messages: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-sub-{id(self):x}")
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *args: self._subscribed.set()
        self.client.on_connect = lambda client, *args: client.subscribe(topic, qos=1)
        self.client.connect(HOST, port)
        self.client.loop_start()
        if not self._subscribed.wait(10.0):
            raise RuntimeError("the test subscriber was not subscribed within 10 s")

    def _on_message(self, client: object, userdata: object, message: Any) -> None:
        with self._lock:
            self.messages.append((message.topic, json.loads(message.payload)))

    def wait_for(self, count: int, timeout: float = 20.0) -> list[tuple[str, dict[str, Any]]]:
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.messages)} of {count} MQTT messages within {timeout} s")
            time.sleep(0.02)

    def __enter__(self) -> Subscriber:
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.disconnect()
        self.client.loop_stop()
