"""Video files (mp4, mkv, avi, mov, webm, ts, ...): every frame in order, with container timestamps.

Decoder choice (``source.decoder``): ``auto`` is PyAV. Measured with ``python -m bench.decode``
(300-frame clips, best of 3, frames/s to BGR arrays, 2-core machine, PyAV 18.1, OpenCV 5.0; two
runs, which differ by up to 20 %)::

    clip          opencv   pyav   pyav thread_type=AUTO
    H.264 720p    400-498  444-490  448-458
    H.264 1080p   293-316  257-273  241-290
    mp4v 720p     688-784  404-544  528-540
    MJPEG 720p    793-800  673-677  660-680

Speed is a wash for H.264 and OpenCV is 15-40 % faster for mp4v/MJPEG, all far above the frame
rate inference sustains. PyAV wins on what the pipeline needs to be exact: container timestamps
and the rational frame rate (``30000/1001``, so a video sink can write exactly the input's fps);
a corrupt packet or frame is recognised (``packet.is_corrupt``, a decode error, ``frame.is_corrupt``)
and skipped and counted instead of ending the stream (OpenCV's ``read()`` returns False for a bad
frame and for the end alike); a truncated mp4 yields exactly the decodable frames, as ffprobe
counts them; and "not a video" is told apart from "truncated". PyAV decodes with
``source.decode_threads`` threads: 1 by default, which costs the least CPU per frame (the benchmark
measured 1.7 ms less per 720p frame than frame threads on a 2-core machine where inference keeps
both cores busy); 0 lets FFmpeg choose frame threads, faster decoding on machines with cores to spare. ``decoder: opencv`` keeps ``cv2.VideoCapture``
for its speed on intra-only codecs; there a bad frame ends the stream and the fps is the float
OpenCV reports, made rational with ``Fraction.limit_denominator(1001)``.

Both decoders apply the file's rotation metadata (phone clips come out upright).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np

from pipeline.config import check_allowed
from pipeline.config_schema import SourceConfig
from pipeline.frame import Frame
from pipeline.sources.base import SourceInfo
from segcore.errors import SourceError

log = logging.getLogger(__name__)

REANCHOR_LATE_S = 0.25  # paced replay that falls this far behind restarts its clock instead of bursting


class _PyAVDecoder:
    """Demux and decode with PyAV; corrupt packets and frames are skipped and counted."""

    def __init__(self, path: Path, threads: int = 1) -> None:
        import av

        self._av = av
        try:
            self._container = av.open(str(path))
        except av.error.FFmpegError as exc:
            raise SourceError(_unreadable_message(path, exc.strerror or str(exc))) from None
        if not self._container.streams.video:
            self._container.close()
            raise SourceError(f"{path} has no video stream (audio only?); give a video file")
        self._stream = self._container.streams.video[0]
        if threads == 1:
            self._stream.thread_count = 1
        else:
            self._stream.thread_type = "AUTO"
            self._stream.thread_count = threads  # 0 = FFmpeg's choice
        rate = self._stream.average_rate or self._stream.base_rate or self._stream.guessed_rate
        self.rate: Fraction | None = Fraction(rate) if rate else None
        self.frame_count = int(self._stream.frames) or None
        self.codec: str | None = self._stream.codec_context.name
        self.corrupt = 0
        self.truncated = False
        self._frames = self._decode()

    def _decode(self) -> Iterator[tuple[np.ndarray, float | None]]:
        av = self._av
        packets = self._container.demux(self._stream)
        last_corrupt = False  # a file that ends in a corrupt (partial) packet was cut off
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                self.truncated = last_corrupt
                return
            except av.error.FFmpegError as exc:  # a read error: the end of what can be decoded
                self.truncated = True
                log.warning("%s: read error, stopping here: %s", self._container.name, exc)
                yield from self._convert(self._flush())
                return
            if packet.size:
                last_corrupt = packet.is_corrupt
            if packet.is_corrupt:
                self.corrupt += 1
                continue
            try:
                frames = packet.decode()
            except av.error.FFmpegError as exc:
                self.corrupt += 1
                log.debug("%s: packet skipped: %s", self._container.name, exc)
                continue
            yield from self._convert(frames)

    def _flush(self) -> list:
        try:
            return list(self._stream.codec_context.decode(None))
        except self._av.error.FFmpegError:
            return []

    def _convert(self, frames: list) -> Iterator[tuple[np.ndarray, float | None]]:
        for frame in frames:
            if frame.is_corrupt:
                self.corrupt += 1
                continue
            image = frame.to_ndarray(format="bgr24")  # rows may be padded (odd widths): made contiguous below
            if frame.rotation:
                image = np.rot90(image, k=round(frame.rotation / 90) % 4)
            yield np.ascontiguousarray(image), frame.time

    def next(self) -> tuple[np.ndarray, float | None] | None:
        return next(self._frames, None)

    def close(self) -> None:
        self._container.close()


class _OpenCVDecoder:
    """``cv2.VideoCapture``: fast for intra-only codecs; a failed read ends the stream."""

    def __init__(self, path: Path) -> None:
        import cv2

        self._cv2 = cv2
        self._cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
        if not self._cap.isOpened():
            self._cap.release()
            raise SourceError(_unreadable_message(path, "OpenCV cannot open it"))
        fps = self._cap.get(cv2.CAP_PROP_FPS)
        self.rate = Fraction(fps).limit_denominator(1001) if fps > 0 else None
        self.frame_count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT)) or None
        fourcc = int(self._cap.get(cv2.CAP_PROP_FOURCC))
        self.codec = "".join(chr((fourcc >> 8 * i) & 0xFF) for i in range(4)).strip("\x00 ").lower() or None
        self.corrupt = 0
        self.truncated = False

    def next(self) -> tuple[np.ndarray, float | None] | None:
        ok, image = self._cap.read()
        if not ok:
            return None
        return image, self._cap.get(self._cv2.CAP_PROP_POS_MSEC) / 1000.0

    def close(self) -> None:
        self._cap.release()


def _unreadable_message(path: Path, detail: str) -> str:
    with open(path, "rb") as handle:
        head = handle.read(12)
    if head[4:8] == b"ftyp":
        return (
            f"{path} is truncated: an MP4/MOV whose index (moov atom) is missing, as when a recording "
            f"is cut off ({detail}); nothing can be decoded: copy the file again or re-record it"
        )
    return f"{path} is not a video file FFmpeg can read ({detail}); check the file, or convert it with ffmpeg"


class FileSource:
    """Frames of a video file. ``pace`` replays at the native fps (``is_live`` is then True);
    ``loop`` restarts at the end (``index`` and ``pts`` keep growing)."""

    def __init__(self, path: str | Path, *, source_id: str, config: SourceConfig | None = None) -> None:
        config = config or SourceConfig()
        check_allowed("source.decoder", config.decoder)
        self.path = Path(path)
        self.source_id = source_id
        self._decoder_name = "opencv" if config.decoder == "opencv" else "pyav"
        self._decode_threads = config.decode_threads
        self._pace = config.pace or config.mode == "live"
        self._loop = config.loop
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._decoder: _PyAVDecoder | _OpenCVDecoder | None = None
        self._info: SourceInfo | None = None
        self._first: tuple[np.ndarray, float | None] | None = None
        self._index = 0
        self._corrupt_before = 0  # corrupt frames of earlier loops
        self._pts_offset = 0.0  # added to pts after each loop
        self._start_pts: float | None = None  # the file's first pts
        self._last_pts: float | None = None
        self._pass_frames = 0
        self._anchor: tuple[float, float] | None = None  # (monotonic, pts) for pacing

    def _new_decoder(self) -> _PyAVDecoder | _OpenCVDecoder:
        return _OpenCVDecoder(self.path) if self._decoder_name == "opencv" else _PyAVDecoder(self.path, self._decode_threads)

    def open(self) -> SourceInfo:
        if self._info is not None:
            return self._info
        if not self.path.is_file():
            raise SourceError(f"video file {self.path} does not exist; check the path")
        if self.path.stat().st_size == 0:
            raise SourceError(f"video file {self.path} is empty (0 bytes); check the file")
        decoder = self._new_decoder()
        first = decoder.next()
        if first is None:
            decoder.close()
            raise SourceError(f"{self.path} contains no decodable video frame; check or re-encode the file")
        self._decoder, self._first, self._start_pts = decoder, first, first[1]
        rate = decoder.rate
        self._info = SourceInfo(
            uri=str(self.path),
            width=int(first[0].shape[1]),
            height=int(first[0].shape[0]),
            fps=float(rate) if rate else None,
            frame_count=None if self._loop else decoder.frame_count,
            is_live=self._pace,
            codec=decoder.codec,
            fps_exact=(rate.numerator, rate.denominator) if rate else None,
        )
        return self._info

    @property
    def info(self) -> SourceInfo:
        if self._info is None:
            raise RuntimeError("FileSource.info is known only after open()")
        return self._info

    def read(self) -> Frame | None:
        with self._lock:
            if self._closed.is_set() or self._decoder is None:
                return None
            item = self._next(self._decoder)
            if item is None:
                return None
            image, pts = item
            if self._pace and pts is not None:
                self._wait_until(pts)
                if self._closed.is_set():
                    return None
            frame = Frame(
                image=image,
                source_id=self.source_id,
                index=self._index,
                pts=pts,
                capture_time=time.monotonic(),
            )
            self._index += 1
            return frame

    def _next(self, decoder: _PyAVDecoder | _OpenCVDecoder) -> tuple[np.ndarray, float | None] | None:
        """The next decodable frame with its pts on the looped timeline; None at the very end."""
        item = self._first if self._first is not None else decoder.next()
        self._first = None
        if item is None and self._loop and self._pass_frames > 0:
            item = self._restart(decoder).next()
        if item is None:
            return None
        image, pts = item
        self._pass_frames += 1
        if pts is None and self._info is not None and self._info.fps:
            pts = (self._pass_frames - 1) / self._info.fps
        if pts is not None:
            pts += self._pts_offset
            self._last_pts = pts
        return image, pts

    def _restart(self, decoder: _PyAVDecoder | _OpenCVDecoder) -> _PyAVDecoder | _OpenCVDecoder:
        """Reopen the file for the next loop; timestamps continue one frame after the last."""
        self._corrupt_before += decoder.corrupt
        decoder.close()
        if self._last_pts is not None:
            frame_s = 1.0 / self._info.fps if self._info and self._info.fps else 0.0
            self._pts_offset = self._last_pts + frame_s - (self._start_pts or 0.0)
        self._pass_frames = 0
        self._decoder = self._new_decoder()
        return self._decoder

    def _wait_until(self, pts: float) -> None:
        now = time.monotonic()
        if self._anchor is None:
            self._anchor = (now, pts)
            return
        delay = self._anchor[0] + (pts - self._anchor[1]) - now
        if delay > 0:
            self._closed.wait(delay)
        elif delay < -REANCHOR_LATE_S:  # far behind: continue at the native rate from here
            self._anchor = (now, pts)

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()  # wakes a paced read() first, so the lock comes free at once
        with self._lock:
            if self._decoder is not None:
                self._decoder.close()

    def stats(self) -> dict[str, int | float | str]:
        decoder = self._decoder
        return {
            "frames": self._index,
            "corrupt_frames": self._corrupt_before + (decoder.corrupt if decoder is not None else 0),
            "truncated": int(decoder is not None and decoder.truncated),
            "decoder": self._decoder_name,
        }
