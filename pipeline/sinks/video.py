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
Ctrl-C still leaves a playable file. A file that cannot be finalised (a full disk, a file size
limit, an encoder error) is removed, so a failed run leaves a playable file of the frames written
so far or nothing, and never a partial file; after a failed write the frames a kept file holds are
counted from the file itself. A hard kill leaves only the partial file; the final path never holds
a corrupt file. ``outputs()`` lists the files that exist, with the frames each holds.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.config import check_allowed
from pipeline.config_schema import Codec, VideoPreset
from pipeline.frame import SegResult
from pipeline.sinks.encoders import (
    CONTAINERS,
    Encoder,
    OpenCVEncoder,
    PyAVEncoder,
    count_frames,
    pyav_encoders,
)
from pipeline.sinks.failures import write_failure
from pipeline.sinks.naming import (
    check_not_input,
    has_placeholders,
    output_path,
    partial_path,
    prepare_parent,
    remove_empty_folders,
)
from pipeline.sources.base import SourceInfo
from segcore.errors import OutputError

log = logging.getLogger(__name__)

DEFAULT_RATE = Fraction(25)


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
    broken: bool = False  # a write failed: the file may hold fewer frames than were given
    ended: bool = False  # finalised (``kept``) or removed; nothing more is written
    kept: bool = False  # the file exists at ``path``

    @property
    def partial(self) -> Path:
        return partial_path(self.path)


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
        self._created: list[Path] = []  # folders open() made, removed again if left empty
        self._lock = threading.Lock()
        self._closed = False
        self._encoder: tuple[type[PyAVEncoder] | type[OpenCVEncoder], str] | None = None

    def _check(self, path: Path) -> None:
        if path.suffix.lower() not in CONTAINERS:
            raise OutputError(
                f"output video {path}: unknown suffix {path.suffix or '(none)'}; use one of {', '.join(CONTAINERS)}"
            )
        if not has_placeholders(str(path)):
            check_not_input(path, self.inputs, "output video")

    def _choose_encoder(self) -> tuple[type[PyAVEncoder] | type[OpenCVEncoder], str]:
        available = pyav_encoders()
        if self._requested in ("auto", "h264") and "libx264" in available:
            return PyAVEncoder, "libx264"
        if self._requested == "h264":
            raise OutputError(
                "output.codec h264 needs PyAV with libx264 (pip install av); or set output.codec to mp4v"
            )
        if "mpeg4" in available:
            return PyAVEncoder, "mpeg4"
        return OpenCVEncoder, "mp4v"

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
            self._created += prepare_parent(path, "output video")
            tracks[source_id] = _Track(path=path, rate=_rate(info), live=info.is_live)
        self._tracks = tracks
        atexit.register(self._close_at_exit)

    def write(self, result: SegResult) -> None:
        frame = result.frame
        image = result.rendered if result.rendered is not None else frame.image
        with self._lock:
            if self._closed:
                return
            track = self._tracks[frame.source_id]
            if track.ended:
                return
            encoder = track.encoder or self._start(track, image)
            if track.live:
                if track.start_time is None:
                    track.start_time = frame.capture_time
                pts = max(round((frame.capture_time - track.start_time) * track.rate), track.last_pts + 1)
            else:
                pts = track.frames
            fitted = _fit(track, image)
            try:
                encoder.write(fitted, pts)
            except Exception as exc:
                track.broken = True
                _finalise(track)
                kept = f"its first {track.frames} frames are kept" if track.kept else "the unfinished file was removed"
                raise OutputError(f"cannot write video {track.path}: {write_failure(exc)}; {kept}") from exc
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
                PyAVEncoder(track.partial, codec, *track.coded, track.rate, self.preset)
                if cls is PyAVEncoder
                else cls(track.partial, codec, *track.coded, track.rate)
            )
        except Exception as exc:
            track.ended = True
            with contextlib.suppress(OSError):
                track.partial.unlink()
            if isinstance(exc, OutputError):
                raise
            raise OutputError(f"cannot write video {track.path} with {codec}: {write_failure(exc)}") from exc
        return track.encoder

    def close(self) -> None:
        """Finalise every file (each playable, or removed if it cannot be); OutputError naming those removed."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        atexit.unregister(self._close_at_exit)
        failures = []
        for track in self._tracks.values():
            if track.encoder is not None and not track.ended:
                failure = _finalise(track)  # the other files are finalised before reporting
                if failure:
                    failures.append(f"{track.path}: {failure}")
        remove_empty_folders(self._created)
        if failures:
            removed = "the unfinished file was removed" if len(failures) == 1 else "the unfinished files were removed"
            raise OutputError(f"could not finalise video {'; video '.join(failures)}; {removed}")

    def discard(self) -> list[Path]:
        """The process ends now, unfinalised (a hard exit): remove the unfinished files; never waits.

        An encoder thread may still hold a removed file open; nothing is left once the process ends.
        """
        with self._lock:
            self._closed = True
        atexit.unregister(self._close_at_exit)
        removed = []
        for track in self._tracks.values():
            if track.encoder is not None and not track.ended:
                track.ended = True
                with contextlib.suppress(OSError):
                    track.partial.unlink()
                    removed.append(track.partial)
        return removed

    def _close_at_exit(self) -> None:
        try:
            self.close()
        except OutputError as exc:  # the interpreter is exiting: say it, without a traceback
            log.error("%s", exc)

    def outputs(self) -> list[dict[str, Any]]:
        """The files written (that exist), one per source, with the frames each holds."""
        return [
            {"kind": "video", "path": str(t.path), "frames": t.frames, "source": source_id}
            for source_id, t in self._tracks.items()
            if t.kept
        ]

    def stats(self) -> dict[str, Any]:
        tracks = self._tracks.values()
        return {
            "frames": sum(t.frames for t in tracks),  # a removed file's frames are no longer counted
            "resized_frames": sum(t.resized for t in tracks),
            "files": [str(t.path) for t in tracks if t.kept],
        }


def _finalise(track: _Track) -> str | None:
    """Close ``track``'s encoder and move its file into place; None if kept, else why it was removed.

    After a failed write (or with OpenCV's writer, which reports no errors) the frames the file
    holds are counted from the file itself; a file that cannot be read back is removed.
    """
    encoder, track.encoder, track.ended = track.encoder, None, True
    if encoder is None:
        return None
    try:
        encoder.close()
        if track.broken or isinstance(encoder, OpenCVEncoder):
            track.frames = count_frames(track.partial)
            if not track.frames:
                raise OutputError("the file holds no frame")
        os.replace(track.partial, track.path)
    except Exception as exc:
        with contextlib.suppress(OSError):
            track.partial.unlink()
        track.frames = 0
        return write_failure(exc)
    track.kept = True
    return None


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
