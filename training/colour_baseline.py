"""A colour-only baseline for the synthetic street scenes: how far does a pixel's colour alone go?

Fits a lookup from quantised BGR (``bits`` per channel) to the most frequent class on frames of
some seeds and scores it (mIoU over the classes present in the ground truth) on other seeds. The
generator varies colours per seed and object, lighting and weather so that this stays far below
what a segmentation model needs; the tests assert it.

    python -m training.colour_baseline --train 0-7 --test 100-103 --frames 10 --size 320x180
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from engines.transforms import resize_image, resize_mask
from segcore import accuracy
from segcore.exits import CommandParser, int_range, run_command
from segcore.labels import CITYSCAPES, IGNORE_INDEX
from segcore.sizes import wh_argument
from streetsim import StreetScene, SyntheticSpec
from training.data.datasets import parse_seeds

NUM_CLASSES = CITYSCAPES.num_classes


def _frames(seeds: Iterable[int], frames_per_seed: int, size: tuple[int, int], cameras: Sequence[str],
            render_size: tuple[int, int] = (1280, 720), length: int = 300):
    w, h = size
    step = max(1, length // max(frames_per_seed, 1))
    for seed in seeds:
        for camera in cameras:
            scene = StreetScene(SyntheticSpec(seed=int(seed), frames=length, camera=camera, width=render_size[0],
                                              height=render_size[1]))
            for k in range(frames_per_seed):
                img, lab = scene.render((k * step) % length)
                yield resize_image(img, w, h), resize_mask(lab, w, h)


def _bins(img: np.ndarray, bits: int) -> np.ndarray:
    q = (img >> (8 - bits)).astype(np.int64)
    return (q[..., 0] << (2 * bits)) | (q[..., 1] << bits) | q[..., 2]


def fit_lookup(frames: Iterable[tuple[np.ndarray, np.ndarray]], bits: int = 4) -> np.ndarray:
    """Quantised colour → most frequent class (uint8 array with 2**(3*bits) entries)."""
    nb = 1 << (3 * bits)
    counts = np.zeros(nb * NUM_CLASSES, np.int64)
    for img, lab in frames:
        valid = lab != IGNORE_INDEX
        idx = _bins(img, bits)[valid] * NUM_CLASSES + lab[valid].astype(np.int64)
        counts += np.bincount(idx, minlength=nb * NUM_CLASSES)
    per_bin = counts.reshape(nb, NUM_CLASSES)
    lut = per_bin.argmax(axis=1).astype(np.uint8)
    lut[per_bin.sum(axis=1) == 0] = int(per_bin.sum(axis=0).argmax())  # unseen colours: the commonest class
    return lut


def confusion(frames: Iterable[tuple[np.ndarray, np.ndarray]], lut: np.ndarray, bits: int = 4) -> np.ndarray:
    conf = np.zeros((NUM_CLASSES, NUM_CLASSES), np.int64)
    for img, lab in frames:
        conf += accuracy.confusion_matrix(lut[_bins(img, bits)], lab, NUM_CLASSES)
    return conf


def iou_per_class(conf: np.ndarray) -> np.ndarray:
    """IoU per class; NaN for classes absent from the ground truth (the baseline's mIoU counts
    only those: a class it predicts on a test set that never shows it costs nothing)."""
    return np.where(conf.sum(axis=1) > 0, accuracy.iou_per_class(conf), np.nan)


def colour_baseline_miou(train_seeds: Iterable[int], test_seeds: Iterable[int], frames_per_seed: int = 10,
                         size: tuple[int, int] = (512, 256), bits: int = 4,
                         cameras: Sequence[str] = ("dashcam", "fixed"),
                         render_size: tuple[int, int] = (1280, 720)) -> float:
    """mIoU on ``test_seeds`` of a colour → class lookup fitted on ``train_seeds``.

    Frames are spread over each 300-frame video, rendered at ``render_size`` (1280×720) and
    resized to ``size`` (width, height) the way the model sees them; both cameras are used for
    every seed.
    """
    iou = colour_baseline_report(train_seeds, test_seeds, frames_per_seed, size, bits, cameras, render_size)
    return float(np.nanmean(iou))


def colour_baseline_report(train_seeds, test_seeds, frames_per_seed=10, size=(512, 256), bits=4,
                           cameras=("dashcam", "fixed"), render_size=(1280, 720)) -> np.ndarray:
    """Per-class IoU (NaN where absent) of the colour lookup; see ``colour_baseline_miou``."""
    lut = fit_lookup(_frames(train_seeds, frames_per_seed, size, cameras, render_size), bits)
    conf = confusion(_frames(test_seeds, frames_per_seed, size, cameras, render_size), lut, bits)
    return iou_per_class(conf)


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(_main, argv)


def _main(argv: list[str]) -> int:
    ap = CommandParser(prog="python -m training.colour_baseline", description=__doc__.split("\n\n")[0])
    ap.add_argument("--train", default="0-7", help="training seeds, e.g. 0-7 or 1,2,5 (default 0-7)")
    ap.add_argument("--test", default="100-103", help="test seeds (default 100-103)")
    ap.add_argument("--frames", type=int_range(1), default=10, help="frames per seed and camera (default 10)")
    ap.add_argument("--size", default="512x256", type=wh_argument, help="frame size the lookup sees, WxH (default 512x256)")
    ap.add_argument("--bits", type=int_range(1, 7), default=4,
                    help="bits per colour channel, 1-7 (default 4; 8 would need 2.5 GB of counts)")
    args = ap.parse_args(argv)
    iou = colour_baseline_report(parse_seeds(args.train), parse_seeds(args.test), args.frames, args.size, args.bits)
    for k, v in enumerate(iou):
        if not np.isnan(v):
            print(f"  {CITYSCAPES.class_names[k]:14s} {v:.3f}")
    print(f"colour-baseline mIoU: {np.nanmean(iou):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
