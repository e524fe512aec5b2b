"""The FrameHub alone, with real frames and its real encoder thread: encoding only while watched,
at most ``stream_fps``, the placeholder of a quiet source, and a broken state lookup that ends no stream."""

from __future__ import annotations

import asyncio
import time

import cv2
import numpy as np
import pytest

from serve.hub import FrameHub
from tests.pipeline.waiting import wait_until
from tests.serve.conftest import looks_like_placeholder

pytestmark = pytest.mark.timeout(30)


def frame(value: int) -> np.ndarray:
    image = np.zeros((90, 160, 3), np.uint8)
    image[:, :, 1] = value
    cv2.putText(image, str(value), (10, 60), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (255, 255, 255), 2)
    return image


def decode(jpeg: bytes | None) -> np.ndarray:
    assert jpeg is not None
    return cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)


def test_nothing_is_encoded_without_viewers_and_a_viewer_gets_the_newest() -> None:
    hub = FrameHub(stream_fps=20, placeholder_after_s=5.0)
    hub.open([("cam", (160, 90))])
    try:
        for i in range(10):
            hub.publish("cam", frame(100 + i), None)
        time.sleep(0.2)
        assert hub.encodes() == {"cam": 0}

        async def watch() -> list[np.ndarray]:
            hub.bind_loop(asyncio.get_running_loop())
            hub.join_viewer("cam")
            try:
                first, seq, _ = await hub.next_jpeg("cam", 0)
                hub.publish("cam", frame(200), None)
                second, _, _ = await hub.next_jpeg("cam", seq)
                return [decode(first), decode(second)]
            finally:
                hub.leave_viewer("cam")

        first, second = asyncio.run(watch())
        assert abs(int(first[45, 150, 1]) - 109) < 8  # the newest frame, not the first one
        assert abs(int(second[45, 150, 1]) - 200) < 8
        assert hub.encodes() == {"cam": 2}
    finally:
        hub.close()


def test_encoding_is_capped_by_stream_fps_and_a_quiet_source_turns_into_the_placeholder() -> None:
    calls: list[str] = []

    def state_of(source_id: str) -> str:
        calls.append(source_id)
        if len(calls) == 1:
            raise RuntimeError("stats are unavailable")  # the first placeholder fails; the next ones are drawn
        return "reconnecting"

    hub = FrameHub(stream_fps=5, placeholder_after_s=0.4, state_of=state_of)
    hub.open([("cam", (160, 90))])
    hub.join_viewer("cam")
    try:
        start = time.monotonic()
        while time.monotonic() - start < 1.0:  # 100 frames a second for a second
            hub.publish("cam", frame(100 + int(time.monotonic() * 100) % 150), None)  # never dark like a placeholder
            time.sleep(0.01)
        # about 5 a second (fewer when the machine is busy: the encoder runs at a low priority); the
        # first placeholder (no frame yet) failed in state_of and counts not; never one per frame (100)
        assert 1 <= hub.encodes()["cam"] <= 7
        quiet_from = time.monotonic()

        def streamed() -> np.ndarray:  # what a viewer is sent now
            return decode(asyncio.run(hub.next_jpeg("cam", 0, timeout=1.0))[0])

        wait_until(lambda: looks_like_placeholder(streamed()), timeout=5, what="the placeholder")
        assert time.monotonic() - quiet_from < 2.5  # 0.4 s, and a busy machine's scheduling
        assert calls[0] == "cam" and len(calls) >= 2  # the state lookup that failed ended nothing
        assert looks_like_placeholder(decode(hub.snapshot("cam")))
    finally:
        hub.close()
    assert hub._encoder is not None and not hub._encoder.is_alive()
