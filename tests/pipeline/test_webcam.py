"""WebcamSource: URI forms and what happens without a camera (this machine has no /dev/video*).

Real V4L2 captures are opened: a device path that does not exist is a SourceError at once, and a
path that exists but is no camera (/dev/null) goes through the shared reconnect logic.
"""

from __future__ import annotations

import os
import time

import pytest

from pipeline.config_schema import ReconnectConfig, SourceConfig
from pipeline.sources.reconnect import SourceState, SourceStatus
from pipeline.sources.webcam import CameraSettings, WebcamSource, parse_webcam_uri
from segcore.errors import SourceError

FAST = ReconnectConfig(initial_backoff_s=0.05, max_backoff_s=0.1, open_timeout_s=0.2, stall_timeout_s=0.5)


@pytest.mark.parametrize(
    "uri, device, path, settings",
    [
        ("0", 0, "/dev/video0", CameraSettings()),
        ("/dev/video2", "/dev/video2", "/dev/video2", CameraSettings()),
        (
            "/dev/v4l/by-id/usb-cam-video-index0",
            "/dev/v4l/by-id/usb-cam-video-index0",
            "/dev/v4l/by-id/usb-cam-video-index0",
            CameraSettings(),
        ),
        ("v4l2://3", 3, "/dev/video3", CameraSettings()),
        (
            "v4l2:///dev/video1?width=1280&height=720&fps=30&fourcc=MJPG",
            "/dev/video1",
            "/dev/video1",
            CameraSettings(1280, 720, 30.0, "MJPG"),
        ),
    ],
)
def test_uri_forms(uri: str, device: int | str, path: str, settings: CameraSettings) -> None:
    address = parse_webcam_uri(uri)
    assert (address.device, address.path, address.settings) == (device, path, settings)


@pytest.mark.parametrize(
    "uri, message",
    [
        ("v4l2://", "no camera"),
        ("video0", "not a camera"),
        ("v4l2:///dev/video0?zoom=2", "unknown camera setting 'zoom'"),
        ("v4l2:///dev/video0?width=wide", "whole numbers"),
        ("v4l2:///dev/video0?fourcc=MJ", "four characters"),
        ("v4l2:///dev/video0?fps=0", r"fps must be a number in \(0, 1000\]"),
        ("v4l2:///dev/video0?fps=nan", r"fps must be a number in \(0, 1000\]"),  # once accepted
        ("v4l2:///dev/video0?fps=inf", r"fps must be a number in \(0, 1000\]"),  # once accepted
        ("v4l2:///dev/video0?width=100000", r"in 16\.\.8192"),  # once accepted
    ],
)
def test_bad_uris_are_source_errors(uri: str, message: str) -> None:
    with pytest.raises(SourceError, match=message):
        WebcamSource(uri, source_id="cam", config=SourceConfig())


@pytest.mark.parametrize("uri", ["0", "/dev/video0", "v4l2:///dev/video0"])
def test_a_missing_camera_is_a_source_error_at_once(uri: str) -> None:
    if os.path.exists("/dev/video0"):
        pytest.skip("this machine has a /dev/video0")
    source = WebcamSource(uri, source_id="cam", config=SourceConfig(reconnect=FAST))
    started = time.monotonic()
    with pytest.raises(SourceError, match=r"camera /dev/video0 not found.*ls /dev/video\*"):
        source.open()
    assert time.monotonic() - started < 0.5


def test_a_device_that_is_no_camera_fails_clearly_without_reconnect() -> None:
    config = SourceConfig(reconnect=ReconnectConfig(**{**FAST.__dict__, "enabled": False}))
    with pytest.raises(SourceError, match="could not open /dev/null.*reconnect is disabled"):
        WebcamSource("/dev/null", source_id="cam", config=config).open()


def test_a_device_that_is_no_camera_keeps_retrying_with_reconnect() -> None:
    statuses: list[SourceStatus] = []
    source = WebcamSource(
        "/dev/null", source_id="cam", config=SourceConfig(reconnect=FAST), on_status=statuses.append
    )
    info = source.open()
    assert (info.width, info.height, info.uri) == (0, 0, "/dev/null")
    stats = source.stats()
    assert stats["state"] in ("reconnecting", "connecting") and int(stats["reconnect_attempts"]) >= 1
    assert "could not open /dev/null" in next(
        s.reason for s in statuses if s.state is SourceState.RECONNECTING
    )
    started = time.monotonic()
    source.close()
    assert time.monotonic() - started < 1.0 and source.read() is None
