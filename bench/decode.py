"""Decode benchmark: OpenCV vs PyAV, frames per second to BGR arrays (what the file source delivers).

    python -m bench.decode                  # 300-frame clips: H.264 720p/1080p, mp4v 720p, MJPEG 720p
    python -m bench.decode --frames 100 --json out/decode.json

Clips are made once from FFmpeg's ``testsrc2`` pattern into a temporary folder (or ``--clips DIR``).
Each decoder reads every frame to a BGR ``uint8`` array; the best of ``--repeat`` runs is kept.
Decoders: ``opencv`` (``cv2.VideoCapture`` with the FFmpeg backend), ``pyav`` (PyAV with FFmpeg's
default threading) and ``pyav-auto`` (``thread_type="AUTO"``: frame and slice threads).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import cv2

CLIPS: dict[str, tuple[str, int, int]] = {  # name → (encoder, width, height)
    "h264_720p": ("libx264", 1280, 720),
    "h264_1080p": ("libx264", 1920, 1080),
    "mp4v_720p": ("mpeg4", 1280, 720),
    "mjpeg_720p": ("mjpeg", 1280, 720),
}


def make_clip(path: Path, encoder: str, width: int, height: int, frames: int, fps: int = 30) -> Path:
    """Encode ``frames`` frames of FFmpeg's moving ``testsrc2`` pattern (mp4 for H.264/mp4v, avi for MJPEG)."""
    if path.exists():
        return path
    tmp = path.with_name(f".{path.stem}.partial{path.suffix}")
    source = av.open(f"testsrc2=size={width}x{height}:rate={fps}", format="lavfi")
    with av.open(str(tmp), "w") as out:
        stream = out.add_stream(encoder, rate=Fraction(fps))
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuvj420p" if encoder == "mjpeg" else "yuv420p"
        if encoder == "libx264":
            stream.options = {"preset": "veryfast"}
        elif encoder == "mpeg4":
            stream.bit_rate = 8_000_000
        for i, frame in enumerate(source.decode(video=0)):
            if i == frames:
                break
            frame.pts, frame.time_base = i, Fraction(1, fps)
            out.mux(stream.encode(frame.reformat(format=stream.pix_fmt)))
        out.mux(stream.encode())
    source.close()
    os.replace(tmp, path)
    return path


def read_opencv(path: Path) -> int:
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    count = 0
    while True:
        ok, _ = cap.read()
        if not ok:
            break
        count += 1
    cap.release()
    return count


def read_pyav(path: Path, thread_type: str | None = None) -> int:
    count = 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if thread_type:
            stream.thread_type = thread_type
        for frame in container.decode(stream):
            frame.to_ndarray(format="bgr24")
            count += 1
    return count


DECODERS: dict[str, Callable[[Path], int]] = {
    "opencv": read_opencv,
    "pyav": read_pyav,
    "pyav-auto": lambda path: read_pyav(path, "AUTO"),
}


def measure(path: Path, decoder: Callable[[Path], int], repeat: int) -> tuple[float, int]:
    best, frames = float("inf"), 0
    for _ in range(repeat):
        start = time.perf_counter()
        frames = decoder(path)
        best = min(best, time.perf_counter() - start)
    return frames / best, frames


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--clips", type=Path, help="folder to keep the generated clips in (reused)")
    parser.add_argument("--only", nargs="*", choices=sorted(CLIPS), help="clips to run (default: all)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.clips or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        results: list[dict[str, object]] = []
        print(
            f"{'clip':<12} {'decoder':<10} {'fps':>8} frames   (cores: {os.cpu_count()}, PyAV {av.__version__}, "
            f"OpenCV {cv2.__version__})"
        )
        for name in args.only or CLIPS:
            encoder, width, height = CLIPS[name]
            suffix = ".avi" if encoder == "mjpeg" else ".mp4"
            clip = make_clip(folder / f"{name}_{args.frames}{suffix}", encoder, width, height, args.frames)
            for decoder_name, decoder in DECODERS.items():
                fps, frames = measure(clip, decoder, args.repeat)
                print(f"{name:<12} {decoder_name:<10} {fps:8.1f} {frames}")
                results.append(
                    {"clip": name, "decoder": decoder_name, "fps": round(fps, 1), "frames": frames}
                )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
