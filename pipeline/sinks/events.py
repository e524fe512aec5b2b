"""``ZoneEventSink``: the run's results through its zones, the events out to listeners.

Made by ``build_event_sink`` when the config has ``zones``: it checks them against the run (source
ids, the model's classes; ``ConfigError`` before any frame), makes the publishers that
``events.mqtt`` and ``events.webhook`` ask for, and subscribes them to its ``hub``
(``pipeline.events.EventHub``), where anything else may subscribe too (the JSONL sink, an HTTP
server: ``sink.hub.subscribe(listener)``). On its own thread it runs ``ZoneMonitor`` over every
result and publishes the events; ``open`` checks pixel polygons against the sources' frame sizes
and connects the publishers (a broker that cannot be reached: ``OutputError``, before the first
frame); ``close`` ends the events still under way (``reason: "stopped"``), then flushes and
closes the publishers.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pipeline.config_schema import EventsConfig, ZoneConfig
from pipeline.events.hub import EventHub
from pipeline.events.monitor import ZoneMonitor
from pipeline.events.publisher import QueuedPublisher
from pipeline.events.zones import Zone, check_sizes, resolve_zones
from pipeline.failure import quietly
from pipeline.frame import SegResult
from pipeline.sources.base import SourceInfo


class ZoneEventSink:
    name = "zones"

    def __init__(self, zones: Sequence[Zone], *, publishers: Sequence[QueuedPublisher] = (), hub: EventHub | None = None) -> None:
        self.zones = list(zones)
        self.monitor = ZoneMonitor(self.zones)
        self.hub = hub or EventHub()
        self.publishers = list(publishers)
        for publisher in self.publishers:
            self.hub.subscribe(publisher)
        self._opened: list[QueuedPublisher] = []
        self._closed = False
        self._lock = threading.Lock()  # the monitor is fed by this sink's thread and told of removed sources by another

    def open(self, sources: Mapping[str, SourceInfo]) -> None:
        check_sizes(self.zones, {sid: (info.width, info.height) for sid, info in sources.items()})
        for publisher in self.publishers:
            publisher.open()
            self._opened.append(publisher)
        self._closed = False
        self.hub.open()

    def write(self, result: SegResult) -> None:
        with self._lock:
            events = self.monitor.observe(result)
        for event in events:
            self.hub.publish(event)

    def add_source(self, source_id: str, info: SourceInfo) -> None:
        """A source joined the running pipeline: the zones are the config's, none of them its own."""

    def remove_source(self, source_id: str) -> None:
        """A source left the running pipeline: its events under way end (``reason: "removed"``)."""
        with self._lock:
            events = self.monitor.remove(source_id)
        for event in events:
            self.hub.publish(event)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            with self._lock:
                events = self.monitor.finish()
            for event in events:
                self.hub.publish(event)
        finally:
            self.hub.close()
            for publisher in self._opened:
                quietly(publisher.close)
            self._opened = []

    def stats(self) -> dict[str, Any]:
        return {**self.hub.stats(), **{p.name: p.stats() for p in self.publishers}}


def event_hub(sinks: Iterable[object]) -> EventHub | None:
    """The hub of the zone sink among ``sinks`` (``Pipeline.sinks``), None when the run has no zones:
    where a host or an HTTP server subscribes to the run's zone events."""
    for sink in sinks:
        if isinstance(sink, ZoneEventSink):
            return sink.hub
    return None


def build_event_sink(
    zones: Mapping[str, Sequence[ZoneConfig]], events: EventsConfig, *, source_ids: Sequence[str],
    class_names: Sequence[str],
) -> ZoneEventSink | None:
    """The zone sink a config asks for (None without zones); ``ConfigError`` for a zone the run cannot have."""
    resolved = resolve_zones(zones, source_ids=source_ids, class_names=class_names)
    publishers: list[QueuedPublisher] = []
    if events.mqtt:
        from pipeline.events.mqtt import MqttPublisher

        publishers.append(MqttPublisher(events.mqtt, queue_size=events.queue_size, timeout_s=events.timeout_s))
    if events.webhook:
        from pipeline.events.webhook import WebhookPublisher

        publishers.append(WebhookPublisher(events.webhook, queue_size=events.queue_size, timeout_s=events.timeout_s,
                                           retries=events.retries))
    if not resolved:
        return None
    return ZoneEventSink(resolved, publishers=publishers)
