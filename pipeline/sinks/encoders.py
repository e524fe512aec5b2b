"""The encoders the video sink writes with: PyAV (libx264, mpeg4) or OpenCV's writer (mp4v).

``count_frames`` reads a written file back: how many frames it really holds.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np

from segcore.errors import OutputError

if TYPE_CHECKING:
    from av.video.stream import VideoStream

CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".avi": "avi"}
X264_CRF = "23"
MPEG4_OPTIONS = {"flags": "+qscale", "global_quality": str(4 * 118)}  # -q:v 4 (FF_QP2LAMBDA = 118)


def pyav_encoders() -> set[str]:
    """The encoders this sink can use through PyAV (empty when PyAV is not installed)."""
    try:
        import av
    except ImportError:
        return set()
    return {name for name in ("libx264", "mpeg4") if name in av.codecs_available}


class PyAVEncoder:
    """H.264 (libx264) or MPEG-4 Part 2 (mpeg4) through PyAV, into the container the suffix names."""

    def __init__(self, path: Path, codec: str, width: int, height: int, rate: Fraction, preset: str = "ultrafast") -> None:
        import av

        self._av = av
        self._container = av.open(str(path), "w", format=CONTAINERS[path.suffix.lower()])
        try:
            stream = cast("VideoStream", self._container.add_stream(codec, rate=rate))
            stream.width, stream.height = width, height
            stream.time_base = 1 / rate
            if codec == "libx264":
                stream.pix_fmt = "yuv444p" if width % 2 or height % 2 else "yuv420p"
                stream.options = {"preset": preset, "crf": X264_CRF}
            else:
                stream.pix_fmt = "yuv420p"
                stream.options = dict(MPEG4_OPTIONS)
        except Exception:
            self._container.close()
            raise
        self._stream = stream
        self._failed = False

    def write(self, image: np.ndarray, pts: int) -> None:
        frame = self._av.VideoFrame.from_ndarray(image, format="bgr24")
        frame.pts = pts
        try:
            self._container.mux(self._stream.encode(frame))
        except BaseException:
            self._failed = True
            raise

    def close(self) -> None:
        """Flush the encoder and write the trailer; after a failed write, only the trailer.

        Flushing after a failed write crashes the process (SIGSEGV in PyAV 18 / FFmpeg when the
        failed write was the container's header, e.g. on a full disk), so the frames still in
        the encoder are dropped instead.
        """
        try:
            if not self._failed:
                self._container.mux(self._stream.encode(None))
        finally:
            self._container.close()


class OpenCVEncoder:
    """mp4v through ``cv2.VideoWriter`` (PyAV missing): consecutive frames at the float fps OpenCV takes."""

    def __init__(self, path: Path, codec: str, width: int, height: int, rate: Fraction) -> None:
        import cv2

        self._writer = cv2.VideoWriter(
            str(path), cv2.VideoWriter.fourcc(*"mp4v"), float(rate), (width, height)
        )
        if not self._writer.isOpened():
            raise OutputError(f"OpenCV cannot write mp4v video to {path}; try an .mp4 or .avi name")

    def write(self, image: np.ndarray, pts: int) -> None:
        self._writer.write(image)

    def close(self) -> None:
        self._writer.release()


Encoder = PyAVEncoder | OpenCVEncoder


def count_frames(path: Path) -> int:
    """The video frames ``path`` holds (0 if it cannot be read): packets through PyAV, else OpenCV's count."""
    try:
        import av
    except ImportError:
        import cv2

        capture = cv2.VideoCapture(str(path))
        try:
            return max(0, int(capture.get(cv2.CAP_PROP_FRAME_COUNT))) if capture.isOpened() else 0
        finally:
            capture.release()
    try:
        with av.open(str(path)) as container:
            return sum(1 for packet in container.demux(video=0) if packet.size)
    except (av.error.FFmpegError, OSError):
        return 0
