"""Video file sink (``-o out.mp4``): the rendered frames (or the input frames) at the input's size and fps.

Codecs (``output.codec``): ``h264`` is PyAV's libx264 (CRF 23, yuv420p, preset ``output.video_preset``:
ultrafast by default, the cheapest per frame, see docs/benchmarks.md); ``mp4v`` is
MPEG-4 Part 2 through PyAV (``mpeg4``, quantiser 4), or through ``cv2.VideoWriter`` when PyAV is not
installed; ``auto`` is H.264 when PyAV has libx264, else mp4v.

Exact rate: the stream's frame rate is the source's rational fps (``fps_exact``, e.g. 30000/1001;
25 when the source states none). Offline sources (every frame) get consecutive timestamps, so the
file has exactly the input's frame count and fps. Live sources (frames may be dropped) are stamped
from ``capture_time`` on the same frame grid, so the file plays in real time.

Odd sizes: H.264 in 4:2:0 cannot code an odd width or height (its chroma and cropping work in
pairs of pixels), so odd-sized frames are coded as yuv444p (High 4:4:4 profile): the file keeps the
exact size and plays in FFmpeg-based players (VLC, mpv, ffplay, OpenCV, PyAV), though not in every
hardware decoder. mp4v cannot code odd sizes at all (FFmpeg's encoder refuses them, OpenCV's
writer silently crops): those frames get one replicated column/row, so that file is one pixel
larger, and a warning says so.

Size changes (a camera reconnecting at another resolution): the file keeps the size of its first
frame; later frames of another size are resized to it and counted (``resized_frames``).

Crash safety: frames go to ``NAME.partial.SUFFIX`` beside the final path; ``close()`` finalises the
file and renames it into place, and ``close`` is also registered with ``atexit``, so an exception or
Ctrl-C still leaves a playable file. A hard kill leaves only the partial file; the final path never
holds a corrupt file.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from pipeline.config import check_allowed
from pipeline.config_schema import Codec, VideoPreset
from pipeline.frame import SegResult
from pipeline.sinks.naming import check_not_input, has_placeholders, output_path, prepare_parent
from pipeline.sources.base import SourceInfo
from segcore.errors import OutputError

if TYPE_CHECKING:
    from av.video.stream import VideoStream

log = logging.getLogger(__name__)

CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".avi": "avi"}
DEFAULT_RATE = Fraction(25)
X264_CRF = "23"
MPEG4_OPTIONS = {"flags": "+qscale", "global_quality": str(4 * 118)}  # -q:v 4 (FF_QP2LAMBDA = 118)


def pyav_encoders() -> set[str]:
    """The encoders this sink can use through PyAV (empty when PyAV is not installed)."""
    try:
        import av
    except ImportError:
        return set()
    return {name for name in ("libx264", "mpeg4") if name in av.codecs_available}


class _PyAVEncoder:
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

    def write(self, image: np.ndarray, pts: int) -> None:
        frame = self._av.VideoFrame.from_ndarray(image, format="bgr24")
        frame.pts = pts
        self._container.mux(self._stream.encode(frame))

    def close(self) -> None:
        try:
            self._container.mux(self._stream.encode(None))
        finally:
            self._container.close()


class _OpenCVEncoder:
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


Encoder = _PyAVEncoder | _OpenCVEncoder


@dataclass
class _Track:
    """One source's output file."""

    path: Path
    rate: Fraction
    live: bool
    encoder: Encoder | None = None
    size: tuple[int, int] = (0, 0)  # (width, height) of the file's frames: the first frame's size
    coded: tuple[int, int] = (0, 0)  # the size given to the encoder: ``size`` made even where needed
    frames: int = 0
    resized: int = 0
    last_pts: int = -1
    start_time: float | None = None

    @property
    def partial(self) -> Path:
        return self.path.with_name(f"{self.path.stem}.partial{self.path.suffix}")


class VideoSink:
    name = "video"

    def __init__(
        self,
        path: str | Path,
        *,
        codec: Codec = "auto",
        preset: VideoPreset = "ultrafast",
        inputs: Iterable[str] = (),
        multi_source: bool = False,
    ) -> None:
        check_allowed("output.codec", codec)
        check_allowed("output.video_preset", preset)
        self.preset = preset
        self.template = str(path)
        self.inputs = list(inputs)
        self.multi_source = multi_source
        self._requested = codec
        self._check(Path(self.template))
        self._tracks: dict[str, _Track] = {}
        self._lock = threading.Lock()
        self._closed = False
        self._encoder: tuple[type[_PyAVEncoder] | type[_OpenCVEncoder], str] | None = None

    def _check(self, path: Path) -> None:
        if path.suffix.lower() not in CONTAINERS:
            raise OutputError(
                f"output video {path}: unknown suffix {path.suffix or '(none)'}; use one of {', '.join(CONTAINERS)}"
            )
        if not has_placeholders(str(path)):
            check_not_input(path, self.inputs, "output video")

    def _choose_encoder(self) -> tuple[type[_PyAVEncoder] | type[_OpenCVEncoder], str]:
        available = pyav_encoders()
        if self._requested in ("auto", "h264") and "libx264" in available:
            return _PyAVEncoder, "libx264"
        if self._requested == "h264":
            raise OutputError(
                "output.codec h264 needs PyAV with libx264 (pip install av); or set output.codec to mp4v"
            )
        if "mpeg4" in available:
            return _PyAVEncoder, "mpeg4"
        return _OpenCVEncoder, "mp4v"

    @property
    def codec(self) -> str | None:
        """The encoder in use once opened: libx264, mpeg4 (PyAV) or mp4v (OpenCV)."""
        return self._encoder[1] if self._encoder else None

    @property
    def paths(self) -> dict[str, Path]:
        """Source id → the final path of its file."""
        return {source_id: track.path for source_id, track in self._tracks.items()}

    def open(self, sources: Mapping[str, SourceInfo]) -> None:
        self._encoder = self._choose_encoder()
        tracks: dict[str, _Track] = {}
        for index, (source_id, info) in enumerate(sources.items()):
            path = output_path(
                self.template, source_id=source_id, index=index, multi_source=self.multi_source
            )
            self._check(path)
            check_not_input(path, self.inputs, "output video")
            if any(track.path == path for track in tracks.values()):
                raise OutputError(
                    f"two sources would write the same video {path}; put {{source}} in its name"
                )
            prepare_parent(path, "output video")
            tracks[source_id] = _Track(path=path, rate=_rate(info), live=info.is_live)
        self._tracks = tracks
        atexit.register(self.close)

    def write(self, result: SegResult) -> None:
        frame = result.frame
        image = result.rendered if result.rendered is not None else frame.image
        with self._lock:
            if self._closed:
                return
            track = self._tracks[frame.source_id]
            encoder = track.encoder or self._start(track, image)
            if track.live:
                if track.start_time is None:
                    track.start_time = frame.capture_time
                pts = max(round((frame.capture_time - track.start_time) * track.rate), track.last_pts + 1)
            else:
                pts = track.frames
            encoder.write(_fit(track, image), pts)
            track.last_pts = pts
            track.frames += 1

    def _start(self, track: _Track, image: np.ndarray) -> Encoder:
        """Create ``track``'s encoder for frames the size of ``image`` (its first frame)."""
        if self._encoder is None:
            raise RuntimeError("VideoSink.write() before open()")
        cls, codec = self._encoder
        height, width = image.shape[:2]
        track.size = track.coded = (width, height)
        if codec != "libx264" and (width % 2 or height % 2):
            track.coded = (width + width % 2, height + height % 2)
            log.warning(
                "%s: %s cannot code the odd size %dx%d; writing %dx%d (edge replicated)",
                track.path,
                codec,
                width,
                height,
                *track.coded,
            )
        elif width % 2 or height % 2:
            log.info("%s: odd size %dx%d coded as H.264 yuv444p to keep it exact", track.path, width, height)
        try:
            track.encoder = (
                _PyAVEncoder(track.partial, codec, *track.coded, track.rate, self.preset)
                if cls is _PyAVEncoder
                else cls(track.partial, codec, *track.coded, track.rate)
            )
        except OutputError:
            raise
        except Exception as exc:
            raise OutputError(f"cannot write video {track.partial} with {codec}: {exc}") from exc
        return track.encoder

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        atexit.unregister(self.close)
        failures = []
        for track in self._tracks.values():
            if track.encoder is None:
                continue
            try:
                track.encoder.close()
                os.replace(track.partial, track.path)
            except Exception as exc:  # finalise the other files before reporting
                failures.append(f"{track.path}: {exc}")
        if failures:
            raise OutputError(f"could not finalise video output: {'; '.join(failures)}")

    def stats(self) -> dict[str, Any]:
        tracks = self._tracks.values()
        return {
            "frames": sum(t.frames for t in tracks),
            "resized_frames": sum(t.resized for t in tracks),
            "files": [str(t.path) for t in tracks if t.frames],
        }


def _fit(track: _Track, image: np.ndarray) -> np.ndarray:
    """``image`` resized to the file's frame size if it differs, padded where the codec needs even sizes."""
    import cv2

    height, width = image.shape[:2]
    if (width, height) != track.size:
        track.resized += 1
        image = cv2.resize(image, track.size, interpolation=cv2.INTER_AREA)
    pad_x, pad_y = track.coded[0] - track.size[0], track.coded[1] - track.size[1]
    if pad_x or pad_y:
        image = cv2.copyMakeBorder(image, 0, pad_y, 0, pad_x, cv2.BORDER_REPLICATE)
    return image


def _rate(info: SourceInfo) -> Fraction:
    if info.fps_exact and info.fps_exact[0] > 0 and info.fps_exact[1] > 0:
        return Fraction(*info.fps_exact)
    if info.fps and info.fps > 0:
        return Fraction(info.fps).limit_denominator(1001)
    return DEFAULT_RATE
