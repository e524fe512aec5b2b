"""``--restream``: the annotated stream served by GStreamer's RTSP server and read back by OpenCV
(FFmpeg's RTSP client) from 127.0.0.1, compared with the frames the render stage drew."""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

import pipeline.sinks.restream as restream
from pipeline import Config, LatestSink, Pipeline, PushSource, load_config
from pipeline.sinks.restream import RestreamSink
from segcore.errors import ConfigError, OutputError
from tests.mqtt_broker import free_port
from tests.pipeline.waiting import wait_until

pytestmark = pytest.mark.rtsp
H, W = 180, 320


def require_gstreamer() -> None:
    """Skip without GStreamer's RTSP server, naming the packages; fail instead when CI=true."""
    missing = restream.missing_parts()
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and --restream cannot run: {missing}")
        pytest.skip(f"{missing} (apt-get install {restream.APT_PACKAGES})")


def read_frames(url: str, count: int, timeout_s: float = 20.0) -> list[np.ndarray]:
    cap = cv2.VideoCapture(url, cv2.CAP_FFMPEG, [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, 10000,
                                                 cv2.CAP_PROP_READ_TIMEOUT_MSEC, 5000])
    frames: list[np.ndarray] = []
    deadline = time.monotonic() + timeout_s
    try:
        assert cap.isOpened(), f"OpenCV could not open {url}"
        while len(frames) < count and time.monotonic() < deadline:
            ok, frame = cap.read()
            if ok:
                frames.append(frame)
    finally:
        cap.release()
    assert len(frames) == count, f"{len(frames)} of {count} frames from {url}"
    return frames


class Feeder:
    """Pushes one image into a live source at about 30 fps until stopped."""

    def __init__(self, source: PushSource, image: np.ndarray) -> None:
        self.source, self.image = source, image
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        index = 0
        while not self.stopped.wait(1 / 30):
            self.source.push(self.image, pts=index / 30)
            index += 1

    def __enter__(self) -> Feeder:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.thread.join()


@pytest.fixture
def scene() -> np.ndarray:
    image = np.full((H, W, 3), 128, np.uint8)
    image[:, W // 2 :] = (30, 160, 220)
    return image


def test_viewers_get_the_annotated_frames(tiny_model: Path, scene: np.ndarray) -> None:
    require_gstreamer()
    port = free_port()
    config = Config()
    config = replace(config, render=replace(config.render, hud=False))  # the same picture every frame
    sink = RestreamSink(f"rtsp://127.0.0.1:{port}/live")
    latest = LatestSink()
    source = PushSource("cam", width=W, height=H)  # a size known at open: served before the first frame
    with Pipeline([source], [sink, latest], model=tiny_model, config=config), Feeder(source, scene):
        url = sink.urls()["cam"]
        assert url == f"rtsp://127.0.0.1:{port}/live"
        got: dict[str, list[np.ndarray]] = {}
        second = threading.Thread(target=lambda: got.setdefault("second", read_frames(url, 10)))
        second.start()  # two viewers at once, one encoder
        first = read_frames(url, 10)
        second.join()
        drawn = latest.latest("cam")
    assert drawn is not None and drawn.rendered is not None
    expected = drawn.rendered.astype(np.float32)
    assert np.abs(expected - scene).mean() > 20  # the annotation changes the picture a lot ...
    for frame in (first[-1], got["second"][-1]):
        assert frame.shape == scene.shape
        assert np.abs(frame - expected).mean() < 6  # ... and the stream carries it, within H.264's loss
        assert np.abs(frame.astype(np.float32) - scene).mean() > 15
    stats = sink.stats()
    assert stats["frames"] >= 10


def test_several_sources_get_a_path_each(tiny_model: Path, scene: np.ndarray) -> None:
    require_gstreamer()
    port = free_port()
    sink = RestreamSink(f"rtsp://127.0.0.1:{port}/cams", multi_source=True)
    one, two = PushSource("one"), PushSource("two")  # sizes unknown: each path is served from its first frame

    dark = (scene // 4).astype(np.uint8)
    with Pipeline([one, two], [sink], model=tiny_model), Feeder(one, scene), Feeder(two, dark):
        wait_until(lambda: sink.frames >= 4, what="frames of both sources")
        urls = sink.urls()
        assert urls == {"one": f"rtsp://127.0.0.1:{port}/cams/one", "two": f"rtsp://127.0.0.1:{port}/cams/two"}
        bright = read_frames(urls["one"], 3)[-1].mean()
        darker = read_frames(urls["two"], 3)[-1].mean()
    assert bright > darker + 20


def test_a_port_in_use_is_refused_before_the_first_frame() -> None:
    require_gstreamer()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        sink = RestreamSink(f"rtsp://127.0.0.1:{taken.getsockname()[1]}/live")
        with pytest.raises(OutputError, match="cannot serve --restream .*choose another port") as caught:
            sink.open({})
    assert "\n" not in str(caught.value)


def test_missing_bindings_name_the_debian_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(restream, "SYSTEM_PYTHON", sys.executable)  # a real Python without python3-gi
    restream.missing_parts.cache_clear()
    try:
        with pytest.raises(OutputError, match=r"needs GStreamer's RTSP server: .*apt-get install python3-gi "
                                              r"gir1\.2-gst-rtsp-server-1\.0"):
            RestreamSink("rtsp://127.0.0.1:8554/live")
    finally:
        restream.missing_parts.cache_clear()


@pytest.mark.parametrize(("url", "message"), [
    ("http://127.0.0.1:8554/live", "expected rtsp://HOST:PORT/PATH"),
    ("rtsp://127.0.0.1:8554", "no path"),
    ("rtsp://u:secret@127.0.0.1:8554/live", "credentials"),
    ("rtsp://127.0.0.1:99999/live", "port is not a number"),
])
def test_bad_restream_urls_are_config_errors(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        load_config(None, values={"restream.url": url})
    assert "secret" not in str(caught.value)


@pytest.fixture(autouse=True)
def _no_leftover_servers() -> Iterator[None]:
    yield
    assert not [t for t in threading.enumerate() if t.name == "segstream-restream"]


def test_a_server_that_dies_fails_the_sink_instead_of_losing_frames_quietly(scene: np.ndarray) -> None:
    require_gstreamer()
    from pipeline.frame import Frame, SegResult
    from pipeline.sources.base import SourceInfo

    sink = RestreamSink(f"rtsp://127.0.0.1:{free_port()}/live")
    sink.open({"cam": SourceInfo("push://cam", W, H, 30.0, None, True)})
    try:
        process = sink._process
        assert process is not None
        process.kill()
        process.wait()
        frame = Frame(scene, "cam", 0, None, time.monotonic())
        result = SegResult(frame, np.zeros((H, W), np.uint8), np.zeros(19, np.float32), rendered=scene)
        with pytest.raises(OutputError, match=r"the RTSP server for --restream .* stopped \(exit status -9\)"):
            for _ in range(100):
                sink.write(result)
                time.sleep(0.01)
    finally:
        sink.close()
