"""Zone events to an MQTT broker (``--mqtt mqtt://host[:port][/prefix]``), with paho-mqtt.

Each event is one JSON message (``ZoneEvent.to_dict``) on ``PREFIX/SOURCE/ZONE/CLASS`` (prefix
``segstream`` unless the URL gives one), QoS 1: the broker acknowledges it, and a message not yet
acknowledged when the connection drops is sent again after paho reconnects (every 0.5 s to 10 s,
for as long as the run lasts). A broker that cannot be reached when the run starts is refused
before the first frame (``OutputError``); one that goes away later only delays the events, which
wait in the publisher's bounded queue (``QueuedPublisher``). ``mqtt://user:password@host`` logs
in; the password never appears in a message.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from pipeline.events.event import ZoneEvent
from pipeline.events.publisher import POLL_S, QueuedPublisher
from segcore.errors import ConfigError, OutputError
from segcore.redact import redact_uri

DEFAULT_PORT = 1883
DEFAULT_PREFIX = "segstream"
QOS = 1


@dataclass(frozen=True)
class MqttTarget:
    host: str
    port: int
    prefix: str
    username: str | None = None
    password: str | None = None

    @property
    def shown(self) -> str:
        """The broker as messages name it (no credentials)."""
        return f"mqtt://{self.host}:{self.port}/{self.prefix}"


def parse_mqtt_url(url: str) -> MqttTarget:
    """``mqtt://[user:password@]host[:port][/prefix]`` → ``MqttTarget``; ``ConfigError`` otherwise."""
    parts = urlsplit(url)
    shown = redact_uri(url)
    if parts.scheme != "mqtt":
        raise ConfigError(f"MQTT URL {shown}: expected mqtt://host[:port][/prefix] (mqtts is not supported)")
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError:
        raise ConfigError(f"MQTT URL {shown}: the port is not a number from 1 to 65535") from None
    if not parts.hostname:
        raise ConfigError(f"MQTT URL {shown}: no host; expected mqtt://host[:port][/prefix]")
    if parts.query or parts.fragment:
        raise ConfigError(f"MQTT URL {shown}: a query or fragment is not allowed; expected mqtt://host[:port][/prefix]")
    prefix = parts.path.strip("/") or DEFAULT_PREFIX
    if any(c in prefix for c in "+#") or "//" in prefix:
        raise ConfigError(f"MQTT URL {shown}: the topic prefix {prefix!r} may not hold '+', '#' or an empty level")
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    return MqttTarget(parts.hostname, port, prefix, username, password)


class MqttPublisher(QueuedPublisher):
    name = "mqtt"

    def __init__(self, url: str, *, queue_size: int = 1000, timeout_s: float = 5.0) -> None:
        super().__init__(queue_size=queue_size, flush_s=timeout_s)
        self.target = parse_mqtt_url(url)
        self.timeout_s = timeout_s
        self._connected = threading.Event()
        self._client: Any = None  # a paho Client once connected (paho is imported only when used)
        self.reconnects = 0

    def topic(self, event: ZoneEvent) -> str:
        return f"{self.target.prefix}/{event.path}"

    def connect(self) -> None:
        import paho.mqtt.client as mqtt

        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"segstream-{os.getpid()}-{id(self):x}",
            protocol=mqtt.MQTTv311,
        )
        client.connect_timeout = self.timeout_s
        client.reconnect_delay_set(min_delay=1, max_delay=10)
        if self.target.username:
            client.username_pw_set(self.target.username, self.target.password)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        target = self.target
        try:
            client.connect(target.host, target.port, keepalive=30)
        except (OSError, ValueError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            raise OutputError(f"cannot reach the MQTT broker {target.shown}: {reason}; start it or fix --mqtt") from None
        client.loop_start()
        if not self._connected.wait(self.timeout_s):
            client.loop_stop()
            raise OutputError(
                f"the MQTT broker {target.shown} did not accept the connection within {self.timeout_s:g} s "
                f"({self._refusal or 'no answer'}); check the address and credentials in --mqtt"
            )
        self._client = client

    _refusal: str | None = None

    def _on_connect(self, client: object, userdata: object, flags: object, reason: object, props: object) -> None:
        if getattr(reason, "is_failure", False):
            self._refusal = str(reason)
            return
        if self._client is not None:
            self.reconnects += 1
        self._connected.set()

    def _on_disconnect(self, client: object, userdata: object, flags: object, reason: object, props: object) -> None:
        self._connected.clear()

    def send(self, event: ZoneEvent) -> None:
        import paho.mqtt.client as mqtt

        client = self._client
        if client is None:
            raise OutputError(f"MQTT publisher for {self.target.shown} is not connected (open() was not called)")
        payload = json.dumps(event.to_dict(), allow_nan=False)
        while not self.abandon.is_set():
            if not self._connected.wait(POLL_S):
                continue
            info = client.publish(self.topic(event), payload, qos=QOS)
            if info.rc == mqtt.MQTT_ERR_NO_CONN:
                continue  # dropped meanwhile: publish again once reconnected
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                raise OutputError(f"MQTT publish to {self.target.shown} failed: {mqtt.error_string(info.rc)}")
            while not info.is_published():  # paho resends it after a reconnect until the broker acknowledges
                if self.abandon.is_set():
                    raise TimeoutError("the run ended before the broker acknowledged it")
                time.sleep(POLL_S / 5)
            return
        raise TimeoutError("the run ended before the broker was reachable again")

    def disconnect(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.disconnect()
            client.loop_stop()

    def stats(self) -> dict[str, object]:
        return {**super().stats(), "broker": self.target.shown, "reconnects": self.reconnects}
