"""``GET /metrics``: the pipeline's numbers in Prometheus' text format, read when scraped.

A ``prometheus_client`` collector on its own registry (never the process-wide one): each scrape
reads ``Pipeline.stats()`` (counters, queues, source states), the metrics' latency histograms
(``Metrics.histograms``, copied under their lock) and the hub (viewers, class fractions). Nothing
is recorded on the data path, so observing costs the frames nothing. Latencies are histograms in
seconds, their ``le`` counts exact to within one of the pipeline's 5 % buckets.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from pipeline.metrics import LatencyHistogram
from serve.hub import FrameHub

BUCKETS_MS = (1, 2, 5, 10, 20, 35, 50, 75, 100, 150, 250, 500, 1000, 2500, 5000, 10000)
UP_STATES = frozenset({"reading", "streaming"})  # a source in one of these delivers frames
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class PipelineCollector:
    """Collects on scrape: ``stats`` (a live ``Pipeline.stats()``), ``histograms`` (``Metrics.histograms``)."""

    def __init__(
        self,
        stats: Callable[[], Mapping[str, Any]],
        histograms: Callable[[], Mapping[str, Mapping[str, LatencyHistogram]]],
        hub: FrameHub,
        class_names: Sequence[str],
    ) -> None:
        self.stats, self.histograms, self.hub, self.class_names = stats, histograms, hub, list(class_names)

    def collect(self) -> Iterator[Metric]:
        stats = self.stats()
        sources: Mapping[str, Mapping[str, Any]] = stats.get("sources", {})
        yield from self._sources(sources)
        queue_depth = GaugeMetricFamily("segstream_queue_depth", "items waiting in a queue", labels=["queue"])
        queue_dropped = CounterMetricFamily("segstream_queue_dropped", "items a queue dropped", labels=["queue"])
        for name, queue in stats.get("queues", {}).items():
            queue_depth.add_metric([name], queue["depth"])
            queue_dropped.add_metric([name], queue["dropped"])
        yield queue_depth
        yield queue_dropped
        histograms = self.histograms()
        stage = _histogram("segstream_stage_latency_seconds", "time one item spends in a stage", "stage")
        for name, h in histograms.get("stage", {}).items():
            _add(stage, name, h)
        yield stage
        engine = HistogramMetricFamily("segstream_engine_latency_seconds", "time of one engine call (a batch)")
        infer = histograms.get("stage", {}).get("infer")
        if infer is not None:
            buckets, total = _buckets(infer)
            engine.add_metric([], buckets, total)
        yield engine
        e2e = _histogram("segstream_e2e_latency_seconds", "from capture to the last sink's write", "source")
        for source_id, h in histograms.get("e2e", {}).items():
            _add(e2e, source_id, h)
        yield e2e
        fraction = GaugeMetricFamily("segstream_class_fraction", "pixel fraction of a class in the newest frame",
                                     labels=["source", "class"])
        for source_id, values in self.hub.fractions().items():
            for name, value in zip(self.class_names, values.tolist(), strict=False):
                fraction.add_metric([source_id, name], value)
        yield fraction
        viewers = GaugeMetricFamily("segstream_viewers", "MJPEG viewers connected", labels=["source"])
        encodes = CounterMetricFamily("segstream_stream_jpegs", "JPEGs encoded for viewers", labels=["source"])
        for source_id, count in self.hub.viewers().items():
            viewers.add_metric([source_id], count)
        for source_id, count in self.hub.encodes().items():
            encodes.add_metric([source_id], count)
        yield viewers
        yield encodes

    def _sources(self, sources: Mapping[str, Mapping[str, Any]]) -> Iterator[Metric]:
        frames = CounterMetricFamily("segstream_frames_processed", "frames written by every sink", labels=["source"])
        dropped = CounterMetricFamily("segstream_frames_dropped", "frames dropped, by reason", labels=["source", "reason"])
        reconnects = CounterMetricFamily("segstream_source_reconnects", "successful reconnections", labels=["source"])
        up = GaugeMetricFamily("segstream_source_up", "1 while the source delivers frames", labels=["source"])
        fps = GaugeMetricFamily("segstream_source_fps", "frames per second, recent", labels=["source"])
        for source_id, section in sources.items():
            frames.add_metric([source_id], section.get("frames", 0))
            dropped.add_metric([source_id, "capture_queue"], section.get("dropped", 0))  # newest frame won
            dropped.add_metric([source_id, "source"], section.get("dropped_frames", 0))  # dropped before decode
            dropped.add_metric([source_id, "corrupt"], section.get("corrupt_frames", 0))
            reconnects.add_metric([source_id], section.get("reconnects", 0))
            up.add_metric([source_id], 1.0 if section.get("state") in UP_STATES else 0.0)
            fps.add_metric([source_id], section.get("fps_recent") or 0.0)
        yield from (frames, dropped, reconnects, up, fps)


def _histogram(name: str, documentation: str, label: str) -> HistogramMetricFamily:
    return HistogramMetricFamily(name, documentation, labels=[label])


def _buckets(h: LatencyHistogram) -> tuple[list[tuple[str, float]], float]:
    counts = h.cumulative(BUCKETS_MS)
    buckets = [(_seconds(bound), float(count)) for bound, count in zip(BUCKETS_MS, counts, strict=True)]
    buckets.append(("+Inf", float(h.count)))
    return buckets, h.total / 1000.0


def _add(family: HistogramMetricFamily, label: str, h: LatencyHistogram) -> None:
    buckets, total = _buckets(h)
    family.add_metric([label], buckets, total)


def _seconds(ms: float) -> str:
    return repr(ms / 1000.0)


def registry_for(collector: PipelineCollector) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)  # type: ignore[arg-type]
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
