"""int8 calibration input: frames read from ``--calib`` and made model-ready like the pipeline's."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engines.build.profiles import Profile, image_axes
from engines.metadata import ModelMeta
from segcore.errors import UserInputError
from segcore.media import is_image


def calibration_batch(spec: str, meta: ModelMeta, profile: Profile, frames: int) -> np.ndarray:
    """Model-ready calibration input from ``spec``: a ``.npy`` batch, a folder of images, or a video.

    Frames go through ``engines.transforms`` exactly as in the pipeline (stretch to the profile's
    opt size, colour order, layout, normalisation per the sidecar).
    """
    from engines import transforms

    path = Path(spec)
    if path.suffix == ".npy":
        return np.asarray(np.load(path))
    images = _read_frames(path, frames)
    h_axis, w_axis, _ = image_axes(meta.input.layout)
    height, width = profile.opt[h_axis], profile.opt[w_axis]
    fitted = [transforms.fit(img, height, width, "stretch")[0] for img in images]
    return transforms.to_input(fitted, meta.input)


def _read_frames(path: Path, count: int) -> list[np.ndarray]:
    import cv2

    if path.is_dir():
        files = sorted(p for p in path.iterdir() if is_image(p))
        step = max(1, len(files) // max(1, count))
        read = (cv2.imread(str(p), cv2.IMREAD_COLOR) for p in files[::step][:count])
        images = [img for img in read if img is not None]
    elif path.is_file():
        capture = cv2.VideoCapture(str(path))
        total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) or count
        step, images, index = max(1, total // max(1, count)), [], 0
        while len(images) < count:
            ok, frame = capture.read()
            if not ok:
                break
            if index % step == 0:
                images.append(frame)
            index += 1
        capture.release()
    else:
        raise UserInputError(
            f"--calib {path}: no such file or folder (give a folder of images, a video or a .npy)"
        )
    if not images:
        raise UserInputError(f"--calib {path}: no readable frames found")
    return images
