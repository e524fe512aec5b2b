"""What a build can be asked for: ``BuildOptions`` and the choices its fields take."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engines.metadata import PRECISIONS, Precision
from segcore.errors import UserInputError

__all__ = ["HARDWARE_COMPAT", "PRECISIONS", "BuildOptions", "Precision", "calibration_source", "check_choices"]

# --hardware-compat choice -> TensorRT's HardwareCompatibilityLevel member
HARDWARE_COMPAT = {"none": "NONE", "ampere+": "AMPERE_PLUS", "same-cc": "SAME_COMPUTE_CAPABILITY"}


@dataclass(frozen=True)
class BuildOptions:
    precision: str | None = None  # None: the ONNX's own precision (the sidecar's ``precision``)
    min_batch: int | None = None
    opt_batch: int | None = None
    max_batch: int | None = None
    min_size: tuple[int, int] | None = None  # (height, width)
    opt_size: tuple[int, int] | None = None
    max_size: tuple[int, int] | None = None
    workspace_mb: int | None = None
    opt_level: int | None = None  # builder_optimization_level 0..5 (TensorRT's default is 3)
    hardware_compat: str = "none"  # "ampere+" or "same-cc": one plan for several GPUs (a little slower)
    timing_cache: Path | None = None  # None: the default file per TensorRT version and GPU
    use_timing_cache: bool = True
    calib: str | None = None
    calib_frames: int = 64
    device: int = 0


def check_choices(precision: str, opts: BuildOptions) -> None:
    """UserInputError for a precision or hardware class this builder does not know, or int8 without frames."""
    if precision not in PRECISIONS:
        raise UserInputError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}")
    if opts.hardware_compat not in HARDWARE_COMPAT:
        raise UserInputError(
            f"hardware_compat {opts.hardware_compat!r} is not one of {', '.join(HARDWARE_COMPAT)}"
        )
    if precision == "int8":
        calibration_source(opts)


def calibration_source(opts: BuildOptions) -> str:
    """``--calib``, which an int8 build cannot do without."""
    if not opts.calib:
        raise UserInputError("--precision int8 needs --calib (a folder of images, a video or a .npy batch)")
    return opts.calib
