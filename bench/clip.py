"""The benchmark clip: a 1280×720 H.264 street scene, made once from the synthetic source and cached.

Every mode decodes the same file, so "the same work" means the same bytes. The clip is rendered by
``streetsim`` (``StreetScene(SyntheticSpec(seed, width, height)).render(i)``) and
encoded with PyAV's libx264 (preset ``veryfast``, CRF 23, yuv420p, 30 fps: what a camera recording or
a downloaded clip looks like). The name records what made it, so a changed generator or size makes
a new file instead of reusing a stale one.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import numpy as np

from segcore.errors import SourceError

CLIP_SEED = 7
CLIP_FPS = 30
CLIP_SIZE = (1280, 720)  # (width, height)
CLIP_FRAMES = 300
X264_CLIP_OPTIONS = {"preset": "veryfast", "crf": "23"}


def clip_name(frames: int = CLIP_FRAMES, size: tuple[int, int] = CLIP_SIZE, seed: int = CLIP_SEED) -> str:
    from streetsim import GENERATOR_VERSION

    return f"street_s{seed}_{size[0]}x{size[1]}_{frames}f_g{GENERATOR_VERSION}.mp4"


def make_clip(
    path: Path, *, frames: int = CLIP_FRAMES, size: tuple[int, int] = CLIP_SIZE, seed: int = CLIP_SEED
) -> Path:
    """Render and encode the clip to ``path`` unless it is already there; return ``path``.

    The file is written beside ``path`` under a temporary name and renamed when complete, so an
    interrupted run never leaves a truncated clip behind for the next one.
    """
    if path.is_file() and path.stat().st_size > 0:
        return path
    import av

    from streetsim import StreetScene, SyntheticSpec

    path.parent.mkdir(parents=True, exist_ok=True)
    scene = StreetScene(SyntheticSpec(seed=seed, frames=frames, width=size[0], height=size[1], fps=CLIP_FPS))
    partial = path.with_name(f".{path.stem}.partial{path.suffix}")
    try:
        with av.open(str(partial), "w", format="mp4") as container:
            stream = container.add_stream("libx264", rate=Fraction(CLIP_FPS))
            stream.width, stream.height = size
            stream.pix_fmt = "yuv420p"
            stream.options = dict(X264_CLIP_OPTIONS)
            for index in range(frames):
                image, _labels = scene.render(index)
                frame = av.VideoFrame.from_ndarray(image, format="bgr24")
                frame.pts = index
                container.mux(stream.encode(frame))
            container.mux(stream.encode(None))
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def read_clip(path: Path, count: int) -> list[np.ndarray]:
    """The first ``count`` frames of a user's clip, or a ``SourceError`` that says what is wrong with
    it: missing, a folder, empty, not a video PyAV can decode, no frames."""
    import av

    if path.is_dir():
        raise SourceError(f"--clip {path} is a folder; give a video file")
    if not path.is_file():
        raise SourceError(f"--clip {path} does not exist; give a video file (or leave --clip out for the street clip)")
    if path.stat().st_size == 0:
        raise SourceError(f"--clip {path} is empty (0 bytes); give a video file")
    try:
        images = decode_frames(path, count)
    except (av.error.FFmpegError, OSError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise SourceError(f"--clip {path} cannot be decoded as a video ({reason}); give a video file") from None
    except IndexError:  # no video stream in the container
        raise SourceError(f"--clip {path} holds no video stream; give a video file") from None
    if not images:
        raise SourceError(f"--clip {path} holds no decodable frames; give a video file")
    return images


def decode_frames(path: Path, count: int | None = None) -> list[np.ndarray]:
    """The first ``count`` frames of ``path`` (all when None) as BGR uint8 arrays, decoded by PyAV."""
    import av

    images: list[np.ndarray] = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            images.append(frame.to_ndarray(format="bgr24"))
            if count is not None and len(images) >= count:
                break
    return images


def retime_clip(path: Path, fps: int) -> Path:
    """The same coded frames with timestamps for ``fps`` (a remux, no re-encode), cached beside ``path``.

    A paced replay (``source.pace: true``) releases frames at the file's own rate, so a 60 fps
    copy of the 30 fps clip is a 60 fps camera showing the same pictures.
    """
    import av

    target = path.with_name(f"{path.stem}_{fps}fps{path.suffix}")
    if target.is_file() and target.stat().st_size > 0:
        return target
    partial = target.with_name(f".{target.stem}.partial{target.suffix}")
    try:
        with av.open(str(path)) as source, av.open(str(partial), "w", format="mp4") as out:
            stream = source.streams.video[0]
            factor = Fraction(stream.average_rate or CLIP_FPS) / fps
            copy = out.add_stream_from_template(stream)
            copy.time_base = stream.time_base
            for packet in source.demux(stream):
                if packet.dts is None:  # the demuxer's end-of-stream marker
                    continue
                packet.pts = None if packet.pts is None else int(packet.pts * factor)
                packet.dts = int(packet.dts * factor)
                if packet.duration:
                    packet.duration = int(packet.duration * factor)
                packet.stream = copy
                out.mux(packet)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target
