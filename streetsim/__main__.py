"""``python -m streetsim [URI] --save DIR --at 0,150`` previews frames; ``--bench 60`` times the generator."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np

from segcore.errors import UserInputError
from segcore.exits import CommandParser, int_range, run_command
from segcore.files import make_folder
from streetsim.scene import StreetScene
from streetsim.spec import SyntheticSpec


def _colourise(labels: np.ndarray) -> np.ndarray:
    from segcore.labels import CITYSCAPES

    lut = np.zeros((256, 3), np.uint8)
    lut[: CITYSCAPES.num_classes] = [c[::-1] for c in CITYSCAPES.palette]
    lut[255] = (255, 255, 255)
    return lut[labels]


def main(argv: list[str] | None = None) -> int:
    """``python -m streetsim [URI] --save DIR --at 0,150`` or ``--bench 60``."""
    return run_command(_main, argv)


def _frame_indices(text: str) -> list[int]:
    import argparse

    try:
        indices = [int(part) for part in text.split(",")]
    except ValueError:
        indices = [-1]
    if min(indices) < 0:
        raise argparse.ArgumentTypeError(f"--at {text!r} is not a comma-separated list of frame indices, e.g. 0,150")
    return indices


def _main(argv: list[str]) -> int:
    ap = CommandParser(prog="python -m streetsim", description="Preview or time the synthetic street generator.")
    ap.add_argument("uri", nargs="?", default="synthetic://street?seed=7", help="synthetic://street?... URI")
    ap.add_argument("--save", metavar="DIR", help="write frame_NNNNNN.png and labels_NNNNNN.png (colour) here")
    ap.add_argument("--at", type=_frame_indices, default=[0], help="frame indices to save, comma-separated (default 0)")
    ap.add_argument("--bench", type=int_range(1, 100_000), metavar="N", help="time N frames on one OpenCV thread (CPU time)")
    args = ap.parse_args(argv)
    scene = StreetScene(SyntheticSpec.from_uri(args.uri))  # SourceError: one line, exit 2
    frames = scene.spec.frames
    if args.save and frames is not None and max(args.at) >= frames:
        raise UserInputError(f"--at {max(args.at)}: this stream has frames 0..{frames - 1}; give indices below {frames}")
    print(f"{scene.spec.to_uri()}  time={scene.look['time']} weather={scene.look['weather']}")
    if args.save:
        out = make_folder(Path(args.save), "--save folder")
        for i in args.at:
            image, labels = scene.render(i)
            cv2.imwrite(str(out / f"frame_{i:06d}.png"), image)
            cv2.imwrite(str(out / f"labels_{i:06d}.png"), _colourise(labels))
        print(f"saved {len(args.at)} frame(s) to {out}")
    if args.bench:
        cv2.setNumThreads(1)
        scene.render(0)
        times = []
        for i in range(1, args.bench + 1):
            t = time.thread_time()
            scene.render(i)
            times.append(time.thread_time() - t)
        ms = np.array(times) * 1e3
        print(f"render: mean {ms.mean():.1f} ms, p50 {np.percentile(ms, 50):.1f}, p95 {np.percentile(ms, 95):.1f}, "
              f"max {ms.max():.1f} (CPU time per frame, {len(ms)} frames)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
