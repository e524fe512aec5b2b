"""``segstream SOURCE --serve HOST:PORT`` as a user runs it: a separate process, the bundled model,
a 1280×720 synthetic street; then curl-like requests from this process, and Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest

from pipeline import Segmenter
from streetsim import StreetScene, SyntheticSpec
from tests.pipeline.waiting import wait_until
from tests.serve.test_http import frames_processed, read_parts

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(REPO)}


def segstream(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "segstream", *args], cwd=REPO, env=ENV, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    process = segstream("synthetic://street?frames=100000", "--serve", "127.0.0.1:0", "--json", str(tmp_path / "s.json"))
    try:
        assert process.stderr is not None
        line = process.stderr.readline()  # the first line says where it serves
        match = re.match(r"serving (http://127\.0\.0\.1:\d+/) ", line)
        assert match, line
        yield process, match.group(1)
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_the_acceptance_run(running: tuple[subprocess.Popen[str], str]) -> None:
    process, url = running
    with httpx.Client(base_url=url.rstrip("/"), timeout=30.0) as client:
        assert client.get("/healthz").status_code == 200
        first = frames_processed(client)
        wait_until(lambda: frames_processed(client) > first, timeout=60, what="the frame counter growing")

        image = StreetScene(SyntheticSpec.from_uri("synthetic://street?seed=99&frames=2")).render(1)[0]
        assert image.shape == (720, 1280, 3)
        jpeg = cv2.imencode(".jpg", image)[1].tobytes()
        reply = client.post("/v1/segment", content=jpeg)
        assert reply.status_code == 200 and reply.headers["content-type"] == "image/png"
        class_map = cv2.imdecode(np.frombuffer(reply.content, np.uint8), cv2.IMREAD_UNCHANGED)
        with Segmenter.from_model() as segmenter:
            expected = segmenter.segment(cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR))
        assert class_map.shape == (720, 1280) and np.array_equal(class_map, expected.class_map)

        frames = read_parts(client, "street", 3)
        assert frames[0].shape == (720, 1280, 3) and not np.array_equal(frames[0], frames[2])

    process.send_signal(signal.SIGINT)
    stopped = time.monotonic()
    out, err = process.communicate(timeout=30)
    assert process.returncode in (0, 130), err
    assert time.monotonic() - stopped < 15
    assert "Traceback" not in err


@pytest.mark.timeout(60)
def test_a_busy_port_is_one_line_and_exit_2() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = segstream("synthetic://street?frames=5", "--serve", f"127.0.0.1:{port}")
        out, err = process.communicate(timeout=60)
    assert process.returncode == 2
    assert err.strip() == f"error: --serve 127.0.0.1:{port}: port {port} is already in use; pick another port (or 0 for a free one)"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("value", ["nope", "127.0.0.1:70000", "http://x:80"])
def test_a_bad_serve_address_is_one_line_and_exit_2(value: str) -> None:
    process = segstream("--serve", value)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 2
    assert err.count("\n") == 1 and err.startswith(f"error: --serve {value}: expected [HOST:]PORT"), err


@pytest.mark.timeout(60)
def test_serving_on_loopback_without_a_token_gives_no_exposure_warning() -> None:
    """The warning is for addresses beyond this machine with no token (tests bind loopback only, so
    the exposed case is checked on the predicate below)."""
    process = segstream("synthetic://street?frames=3&size=160x120", "--serve", "127.0.0.1:0", "--set", "output.video=null")
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert err.startswith("serving http://127.0.0.1:") and "warning" not in err, err


@pytest.mark.parametrize(("host", "loopback"), [("127.0.0.1", True), ("localhost", True)])
def test_loopback_only_is_read_from_the_bound_socket(host: str, loopback: bool) -> None:
    from pipeline import load_config
    from serve import Server

    server = Server(load_config(None, [f"serve.host={host}", "serve.port=0"]))
    try:
        assert server.loopback_only is loopback
    finally:
        server.close()
