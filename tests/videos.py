"""Write small real test clips and images, and read back what they contain.

Every frame carries its own index as eight big black/white blocks (bit 7 on the left), which
survive lossy compression, so a test can check order, gaps and duplicates with ``frame_index``.
Clips are written with PyAV (libx264, mpeg4, mjpeg) or OpenCV (``cv2.VideoWriter``), the two ways
real files reach users.
"""

from __future__ import annotations

import contextlib
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from pipeline.frame import Frame
from pipeline.sources.base import Source

BITS = 8


def pattern(index: int, width: int, height: int) -> np.ndarray:
    """A BGR frame whose top band encodes ``index`` (0-255) in eight blocks, over a colour ramp."""
    image = np.empty((height, width, 3), np.uint8)
    image[..., 0] = np.linspace(0, 255, width, dtype=np.uint8)[None, :]
    image[..., 1] = np.linspace(0, 255, height, dtype=np.uint8)[:, None]
    image[..., 2] = (index * 37) % 256
    band = max(height // 3, 2)
    for bit in range(BITS):
        x0, x1 = bit * width // BITS, (bit + 1) * width // BITS
        image[:band, x0:x1] = 255 if (index >> (BITS - 1 - bit)) & 1 else 0
    return image


def frame_index(image: np.ndarray) -> int:
    """The index that ``pattern`` encoded into ``image`` (after any lossy round trip)."""
    height, width = image.shape[:2]
    band = max(height // 3, 2)
    value = 0
    for bit in range(BITS):
        x0, x1 = bit * width // BITS, (bit + 1) * width // BITS
        # the centre of the block, away from compression ringing at its edges
        block = image[band // 4 : band - band // 4 or 1, x0 + (x1 - x0) // 4 : x1 - (x1 - x0) // 4 or x1]
        value = (value << 1) | int(block.mean() > 127)
    return value


def write_pyav(
    path: Path,
    *,
    frames: int = 12,
    width: int = 96,
    height: int = 64,
    fps: Fraction | int = 25,
    codec: str = "libx264",
    pix_fmt: str | None = None,
    options: dict[str, str] | None = None,
    container_options: dict[str, str] | None = None,
) -> Path:
    """Encode ``frames`` pattern frames with PyAV; B-frames are on for libx264 (its default)."""
    rate = Fraction(fps)
    pix_fmt = pix_fmt or ("yuvj420p" if codec == "mjpeg" else "yuv420p")
    if pix_fmt == "yuv420p" and (width % 2 or height % 2):
        pix_fmt = "yuv444p"  # 4:2:0 needs even sizes
    with av.open(str(path), "w", options=container_options or {}) as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        stream.options = (
            {"preset": "ultrafast"} if codec == "libx264" and options is None else (options or {})
        )
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(pattern(i, width, height), format="bgr24")
            frame.pts = i
            frame.time_base = 1 / rate
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def write_cv2(
    path: Path,
    *,
    frames: int = 12,
    width: int = 96,
    height: int = 64,
    fps: float = 25.0,
    fourcc: str = "mp4v",
) -> Path:
    """Encode ``frames`` pattern frames with OpenCV's VideoWriter (mp4v, MJPG, XVID, ...)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*fourcc), fps, (width, height))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {fourcc} to {path}")
    try:
        for i in range(frames):
            writer.write(pattern(i, width, height))
    finally:
        writer.release()
    return path


def read_frames(source: Source, count: int | None = None) -> list[Frame]:
    """``count`` frames from an opened source (all of them when None); fewer fails the test."""
    frames: list[Frame] = []
    while count is None or len(frames) < count:
        frame = source.read()
        if frame is None:
            if count is not None:
                raise AssertionError(f"{source.source_id} ended after {len(frames)} of {count} frames")
            break
        frames.append(frame)
    return frames


def write_images(directory: Path, names: list[str], *, width: int = 48, height: int = 32) -> list[Path]:
    """Write ``names[i]`` as pattern frame ``i``; the suffix picks the format (png, jpg, bmp, ...)."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, name in enumerate(names):
        path = directory / name
        if not cv2.imwrite(str(path), pattern(i, width, height)):
            raise RuntimeError(f"OpenCV cannot write {path}")
        paths.append(path)
    return paths


def probe(path: Path) -> tuple[int, int, int, Fraction]:
    """(decodable frames, width, height, average rate) of ``path`` as PyAV decodes it."""
    count = 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        try:
            for packet in container.demux(stream):
                try:
                    count += len(packet.decode())
                except av.error.InvalidDataError:
                    continue
        except av.error.FFmpegError:
            pass  # a truncated file: count what came before the break
        with contextlib.suppress(av.error.FFmpegError):
            count += len(stream.codec_context.decode(None))
        return count, stream.codec_context.width, stream.codec_context.height, Fraction(rate)


def truncate(path: Path, fraction: float) -> Path:
    """Cut ``path`` to ``fraction`` of its size in place."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    return path
