"""Local cameras through OpenCV's V4L2 backend, with the same reconnect logic as network streams.

URIs: ``0`` (an index: ``/dev/video0``), ``/dev/video0`` or any other device path such as
``/dev/v4l/by-id/...``, and ``v4l2:///dev/video0`` or ``v4l2://0``. The ``v4l2://`` form takes
optional capture settings as a query: ``v4l2:///dev/video0?width=1280&height=720&fps=30&fourcc=MJPG``
(applied after the open; the driver may pick the nearest mode it has).

``open()`` raises ``SourceError`` at once when the device does not exist: nothing is plugged in at
that path. A device that exists but cannot be opened (busy in another program, no permission, not
a capture device) is handled like an unreachable stream: with reconnect enabled ``open()`` returns
after ``open_timeout_s`` with size 0 and keeps retrying (an unplugged and re-plugged camera comes
back); with reconnect disabled it raises ``SourceError``. A camera that stops delivering is caught
by the stall watchdog.

No timeouts go into the constructor here, unlike network streams: the V4L2 backend refuses to
open when given a parameter it does not support, and its read has its own select() timeout. Off
Linux the platform's default camera backend is used and the device check is skipped.
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

import cv2

from pipeline.config_schema import MAX_SIDE, MIN_SIDE, SourceConfig
from pipeline.sources.base import SourceInfo
from pipeline.sources.live import LiveSource, StatusCallback
from pipeline.sources.network import CvCapture
from pipeline.sources.watchdog import ConnectError
from segcore.errors import SourceError

_ON_LINUX = sys.platform.startswith("linux")
_SETTINGS = ("width", "height", "fps", "fourcc")


@dataclass(frozen=True)
class CameraSettings:
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    fourcc: str | None = None

    def apply(self, capture: cv2.VideoCapture) -> None:
        """Ask the driver for this mode (the pixel format first: it limits the sizes on offer)."""
        if self.fourcc:
            capture.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter.fourcc(*self.fourcc))
        if self.width:
            capture.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
        if self.height:
            capture.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
        if self.fps:
            capture.set(cv2.CAP_PROP_FPS, self.fps)


@dataclass(frozen=True)
class CameraAddress:
    device: int | str  # what cv2.VideoCapture gets: an index or a device path
    path: str | None  # the device node to check for, when known
    settings: CameraSettings

    @property
    def name(self) -> str:
        return self.path or f"camera {self.device}"


def parse_webcam_uri(uri: str) -> CameraAddress:
    """``0``, ``/dev/video0``, ``v4l2:///dev/video0?width=...`` or ``v4l2://0``; SourceError otherwise."""
    text = uri.strip()
    query = ""
    if text.lower().startswith("v4l2://"):
        parts = urlsplit(text)
        text = parts.netloc + parts.path
        query = parts.query
        if not text:
            raise SourceError(f"{uri!r}: no camera; write v4l2:///dev/video0 or v4l2://0")
    if text.isdigit():
        index = int(text)
        path = f"/dev/video{index}" if _ON_LINUX else None
        return CameraAddress(index, path, _settings(uri, query))
    if text.startswith("/dev/"):
        return CameraAddress(text, text, _settings(uri, query))
    raise SourceError(
        f"{uri!r}: not a camera; use an index (0), a device path (/dev/video0) or v4l2:///dev/video0"
    )


def _settings(uri: str, query: str) -> CameraSettings:
    values: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key not in _SETTINGS:
            raise SourceError(
                f"{uri!r}: unknown camera setting {key!r}; the settings are {', '.join(_SETTINGS)}"
            )
        values[key] = value
    try:
        width = int(values["width"]) if "width" in values else None
        height = int(values["height"]) if "height" in values else None
        fps = float(values["fps"]) if "fps" in values else None
    except ValueError:
        raise SourceError(f"{uri!r}: width and height must be whole numbers and fps a number") from None
    fourcc = values.get("fourcc")
    if fourcc is not None and len(fourcc) != 4:
        raise SourceError(f"{uri!r}: fourcc must be four characters, such as MJPG or YUYV")
    if any(v is not None and not MIN_SIDE <= v <= MAX_SIDE for v in (width, height)):
        raise SourceError(f"{uri!r}: width and height must be whole numbers in {MIN_SIDE}..{MAX_SIDE}")
    if fps is not None and not (math.isfinite(fps) and 0 < fps <= 1000):
        raise SourceError(f"{uri!r}: fps must be a number in (0, 1000]")
    return CameraSettings(width, height, fps, fourcc)


def open_camera_capture(address: CameraAddress) -> CvCapture:
    backend = cv2.CAP_V4L2 if _ON_LINUX else cv2.CAP_ANY
    capture = cv2.VideoCapture(address.device, backend)
    if not capture.isOpened():
        capture.release()
        raise ConnectError(
            f"could not open {address.name} (busy in another program, no permission: add the user to "
            "the 'video' group, or not a video capture device)"
        )
    address.settings.apply(capture)
    return CvCapture(capture)


class WebcamSource(LiveSource):
    """A reconnecting local camera; see the module docstring."""

    def __init__(
        self,
        uri: str,
        *,
        source_id: str,
        config: SourceConfig,
        on_status: StatusCallback | None = None,
    ) -> None:
        self._address = parse_webcam_uri(uri)
        address = self._address
        super().__init__(
            uri=uri,
            source_id=source_id,
            reconnect=config.reconnect,
            connect=lambda: open_camera_capture(address),
            on_status=on_status,
        )

    def open(self) -> SourceInfo:
        path = self._address.path
        if path is not None and not os.path.exists(path):
            raise SourceError(
                f"camera {path} not found: no such device. `ls /dev/video*` lists the cameras here; "
                f"in a container, pass it through (docker run --device {path})"
            )
        return super().open()
