"""``segstream SOURCE --restream rtsp://...`` as a user runs it: OpenCV reads the served stream."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest

from tests.mqtt_broker import free_port
from tests.pipeline.test_restream import require_gstreamer
from tests.segstream.test_run import ROOT, SCRIPT, SMALL, assert_user_error, run

pytestmark = pytest.mark.rtsp


def test_the_command_serves_the_annotated_stream_until_stopped(tiny_model: Path) -> None:
    require_gstreamer()
    url = f"rtsp://127.0.0.1:{free_port()}/live"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, str(SCRIPT), SMALL.format(n=100000), "--pace", "--model", str(tiny_model), "--restream", url],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env,
    )
    try:
        frames = []
        deadline = time.monotonic() + 60.0
        while len(frames) < 5 and time.monotonic() < deadline and process.poll() is None:
            cap = cv2.VideoCapture(url, cv2.CAP_FFMPEG, [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, 5000,
                                                         cv2.CAP_PROP_READ_TIMEOUT_MSEC, 5000])
            while cap.isOpened() and len(frames) < 5:
                ok, frame = cap.read()
                if not ok:
                    break
                frames.append(frame)
            cap.release()
            if len(frames) < 5:
                time.sleep(0.2)  # the run is still loading its model
        assert len(frames) == 5 and frames[-1].shape == (180, 320, 3)
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert f"serving street: {url}" in out


def test_a_restream_url_that_cannot_be_served_is_one_line() -> None:
    assert_user_error(run(SMALL.format(n=2), "--restream", "http://127.0.0.1:8554/live"),
                      "--restream http://127.0.0.1:8554/live", "expected rtsp://HOST:PORT/PATH")
