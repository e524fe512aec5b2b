"""The serve benchmark's parts, small: its viewer clients parse real MJPEG parts and their latency,
its segment clients get real class maps, and the report renders (no speed is asserted)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from bench.serve import _percentiles, _started, _stop, _window, markdown, segment_rounds, viewers_alone
from tests.serve.conftest import street

pytestmark = pytest.mark.timeout(120)


def test_a_viewer_window_counts_frames_parts_and_latency(tiny_model: Path) -> None:
    pipeline, server = _started(street(), ["source.pace=true", "source.synthetic_cache=null", "runtime.infer_workers=1"],
                                tiny_model)
    try:
        window = _window(pipeline, server, 3, 1.5)
        idle = _window(pipeline, server, 0, 0.5)
    finally:
        _stop(pipeline, server)
    assert window["fps"] > 0 and window["jpegs"] > 0
    assert len(window["parts"]) == 3 and min(window["parts"]) > 3
    assert window["latency"] and min(window["latency"]) >= 0 and max(window["latency"]) < 5000
    assert idle["jpegs"] == 0 and idle["parts"] == []  # nobody watches: nothing is encoded


def test_segment_rounds_and_the_report(tiny_model: Path, tmp_path: Path) -> None:
    image = tmp_path / "frame.jpg"
    cv2.imwrite(str(image), np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8))
    result = segment_rounds(tiny_model, image, 2)
    assert [row["clients"] for row in result["http"]] == [1, 4, 16]
    assert all(row["errors"] == 0 and row["p50"] > 0 for row in result["http"])
    row = {"viewers": 0, "windows": 1, "fps": 10.0, "server_cpu_pct": 50.0, "jpegs_per_s": 0.0, "viewer_cpu_pct": 0.0,
           "viewer_latency_ms": _percentiles([])}
    text = markdown({"window_s": 5.0, "viewers": {"offline": [row]}, "segment": result})
    assert "| 0 | 10.0 | +0.0 %" in text and "| 16 |" in text


def test_the_server_alone_serves_its_viewers() -> None:
    image = np.random.default_rng(1).integers(0, 255, (90, 160, 3), dtype=np.uint8)
    rows = viewers_alone([0, 2], 1.0, image)
    assert [row["viewers"] for row in rows] == [0, 2]
    assert rows[0]["viewer_latency_ms"]["p50"] is None
    assert rows[1]["viewer_latency_ms"]["p50"] is not None and rows[1]["server_cpu_pct"] >= 0
