"""Latency histograms (bounded memory, accurate percentiles), rates, streamed accuracy."""

from __future__ import annotations

import numpy as np
import pytest

from engines.metrics import ConfusionMatrix
from pipeline.metrics import LatencyHistogram, Metrics, RateMeter


def test_histogram_percentiles_match_numpy_within_bucket_width() -> None:
    rng = np.random.default_rng(0)
    values = rng.lognormal(mean=3.0, sigma=0.8, size=20000)  # ~20 ms, long tail
    h = LatencyHistogram()
    for v in values:
        h.record(float(v))
    for q in (50, 95, 99):
        assert h.percentile(q) == pytest.approx(np.percentile(values, q), rel=0.05)
    assert h.count == len(values)
    assert h.mean == pytest.approx(values.mean())


def test_histogram_memory_is_fixed() -> None:
    h = LatencyHistogram()
    size = h.counts.nbytes
    for v in np.linspace(0, 1e7, 100000):
        h.record(float(v))
    assert h.counts.nbytes == size < 8 * 1024
    assert h.percentile(100) == pytest.approx(1e7)  # beyond the last bucket: the exact maximum


def test_histogram_edge_values() -> None:
    h = LatencyHistogram()
    assert h.percentile(50) is None and h.summary() == {"p50": None, "p95": None, "p99": None}
    for v in (0.0, -5.0, float("nan"), 1e-9):
        h.record(v)
    assert h.percentile(99) <= 1e-3  # below the first bucket: reported as at most 1 µs
    h.record(12.0)
    assert h.percentile(100) == pytest.approx(12.0, rel=0.05)


def test_rate_meter() -> None:
    r = RateMeter(window=10)
    for i in range(20):
        r.tick(100.0 + i * 0.05)
    assert r.rate(now=101.0) == pytest.approx(20.0)
    assert r.rate(now=200.0) == 0.0  # nothing for a long time


def test_metrics_snapshot_has_the_summary_keys_and_accuracy() -> None:
    m = Metrics(["a", "b", "c"])
    m.start(now=10.0)
    for i in range(10):
        m.record_stage("infer", 5.0 + i)
        m.frame_done("cam", 20.0 + i, now=10.1 * (i + 1))
    pred = np.array([[0, 1], [2, 2]], np.uint8)
    labels = np.array([[0, 1], [2, 255]], np.uint8)
    cm = ConfusionMatrix(3)
    cm.update(pred, labels)
    m.add_confusion("cam", cm.matrix)
    snap = m.snapshot(now=120.0)
    assert snap["frames"] == 10
    assert set(snap["stage_latency_ms"]["infer"]) == {"p50", "p95", "p99"}
    assert snap["e2e_latency_ms"]["p50"] == pytest.approx(24.5, rel=0.06)
    assert snap["miou"] == 1.0 and snap["labelled_frames"] == 1
    assert snap["sources"]["cam"]["frames"] == 10 and snap["sources"]["cam"]["miou"] == 1.0
    assert set(snap["per_class_iou"]) == {"a", "b", "c"}


def test_metrics_without_labels_have_no_miou() -> None:
    m = Metrics(["a"])
    m.start()
    m.frame_done("x", 1.0)
    assert "miou" not in m.snapshot()
