"""``run_stream.py`` as a user runs it, on clips written here: what comes out matches what went in.

An output video has exactly the input's frame count, width, height and fps; there is one PNG class
map per frame; the summary's ``frames`` equals the input's frame count; a truncated input is
processed up to the break and the output stays playable; the streamed mIoU equals what
``training.evaluate`` reports for the same synthetic URI and model.
"""

from __future__ import annotations

import json
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.videos import probe, truncate, write_cv2, write_pyav
from training.evaluate import evaluate

REPO = Path(__file__).resolve().parents[2]


def run_stream(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "run_stream.py", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.parametrize(
    ("writer", "width", "height", "fps"),
    [
        ("h264", 320, 180, Fraction(30000, 1001)),
        ("h264", 321, 177, Fraction(25)),
        ("mp4v", 320, 240, Fraction(24)),
        ("mp4v", 322, 178, Fraction(15)),
    ],
)
def test_clip_in_clip_out_with_masks_and_summary(
    tiny_model: Path, tmp_path: Path, writer: str, width: int, height: int, fps: Fraction
) -> None:
    frames = 23
    clip = tmp_path / "in.mp4"
    if writer == "h264":
        write_pyav(clip, frames=frames, width=width, height=height, fps=fps)
    else:
        write_cv2(clip, frames=frames, width=width, height=height, fps=float(fps))
    expected = probe(clip)
    assert expected[0] == frames

    out, masks, summary = tmp_path / "out.mp4", tmp_path / "masks", tmp_path / "s.json"
    proc = run_stream(str(clip), "--model", str(tiny_model), "-o", str(out), "--masks", str(masks),
                      "--json", str(summary))
    assert proc.returncode == 0, proc.stderr

    count, out_width, out_height, out_rate = probe(out)
    assert (count, out_width, out_height) == (frames, width, height)
    assert out_rate == expected[3]
    pngs = sorted(masks.glob("*.png"))
    assert len(pngs) == frames
    first = cv2.imread(str(pngs[0]), cv2.IMREAD_UNCHANGED)
    assert first.shape == (height, width) and first.dtype == np.uint8 and first.max() < 19
    stats = json.loads(summary.read_text())
    assert stats["frames"] == frames and stats["dropped"] == 0
    for key in ("fps", "stage_latency_ms", "e2e_latency_ms"):
        assert key in stats
    assert set(stats["e2e_latency_ms"]) >= {"p50", "p95", "p99"}


def test_a_truncated_clip_is_processed_up_to_the_break(tiny_model: Path, tmp_path: Path) -> None:
    clip = write_pyav(tmp_path / "cut.mp4", frames=60, width=160, height=96,
                      container_options={"movflags": "faststart"})
    truncate(clip, 0.6)
    decodable = probe(clip)[0]
    assert 0 < decodable < 60
    out = tmp_path / "out.mp4"
    proc = run_stream(str(clip), "--model", str(tiny_model), "-o", str(out), "--json", str(tmp_path / "s.json"))
    assert proc.returncode == 0, proc.stderr
    assert probe(out)[0] == decodable == json.loads((tmp_path / "s.json").read_text())["frames"]


def test_streamed_miou_equals_the_evaluators(tiny_model: Path, tmp_path: Path) -> None:
    uri = "synthetic://street?seed=31&frames=12&size=320x180"
    summary = tmp_path / "s.json"
    proc = run_stream(uri, "--model", str(tiny_model), "--json", str(summary), "--set", "render.visualize=none")
    assert proc.returncode == 0, proc.stderr
    streamed = json.loads(summary.read_text())["miou"]
    report, *_ = evaluate(tiny_model, uri)
    assert report["num_images"] == 12
    assert streamed == pytest.approx(report["miou"], abs=1e-6)
