"""How the asked precision is reached with this TensorRT: builder flags, or the ONNX rewritten first.

TensorRT 10 (Jetson, DRIVE OS): ``fp16`` on an fp32 ONNX sets the FP16 builder flag; an fp16 ONNX
is built strongly typed. TensorRT 11 has no precision flags: networks are strongly typed, so the
precision comes from the ONNX itself. ``fp16`` there needs an fp16 ONNX (export it so) or
nvidia-modelopt, whose AutoCast converts the fp32 ONNX first. ``int8`` always goes through
ModelOpt's Q/DQ quantisation (``modelopt.onnx.quantization``) calibrated on ``--calib`` frames, and
is built strongly typed on both versions. ModelOpt is an optional extra, imported only when asked for.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engines.build.calibration import calibration_batch
from engines.build.onnx_file import OnnxInput
from engines.build.options import BuildOptions, calibration_source
from engines.build.profiles import Profile
from engines.errors import EngineUnavailableError
from engines.metadata import ModelMeta
from segcore.errors import UserInputError

LOG = logging.getLogger("engines.build")
MODELOPT_HINT = "pip install 'nvidia-modelopt[onnx]'"


@dataclass(frozen=True)
class PrecisionPlan:
    """How the asked precision is reached with this TensorRT."""

    strongly_typed: bool
    fp16_flag: bool  # TensorRT 10 weak typing only
    convert: str | None  # None, "autocast-fp16" or "modelopt-int8": rewrite the ONNX first


def onnx_precision(meta: ModelMeta, onnx_in: OnnxInput) -> str:
    return "fp16" if meta.precision == "fp16" or onnx_in.elem_type == "float16" else "fp32"


def plan_precision(precision: str, source: str, *, weak_typing: bool) -> PrecisionPlan:
    """Pick flags and ONNX conversions; ``source`` is the ONNX's own precision (fp32/fp16)."""
    if precision == "int8":
        return PrecisionPlan(strongly_typed=True, fp16_flag=False, convert="modelopt-int8")
    if source == "fp16":
        if precision == "fp32":
            raise UserInputError(
                "the ONNX is fp16 and TensorRT builds it as typed, so an fp32 engine cannot come from it; "
                "export an fp32 ONNX, or build with --precision fp16"
            )
        return PrecisionPlan(strongly_typed=True, fp16_flag=False, convert=None)
    if precision == "fp32":
        return PrecisionPlan(strongly_typed=not weak_typing, fp16_flag=False, convert=None)
    if weak_typing:  # TensorRT 10: the FP16 flag lets the builder pick fp16 kernels
        return PrecisionPlan(strongly_typed=False, fp16_flag=True, convert=None)
    return PrecisionPlan(strongly_typed=True, fp16_flag=False, convert="autocast-fp16")


def convert_onnx(onnx_path: Path, plan: PrecisionPlan, tmp: Path, meta: ModelMeta, profile: Profile,
                 opts: BuildOptions) -> Path:
    """The ONNX that TensorRT should parse: ``onnx_path``, or the plan's conversion of it in ``tmp``."""
    if plan.convert == "autocast-fp16":
        LOG.warning(
            "TensorRT without precision flags: converting %s to fp16 with ModelOpt AutoCast", onnx_path
        )
        return autocast_fp16(onnx_path, tmp / "autocast_fp16.onnx")
    if plan.convert == "modelopt-int8":
        batch = calibration_batch(calibration_source(opts), meta, profile, opts.calib_frames)
        LOG.warning("quantising %s to int8 with ModelOpt on %d calibration frames", onnx_path, len(batch))
        return quantize_int8(onnx_path, tmp / "int8_qdq.onnx", batch)
    return onnx_path


def autocast_fp16(src: Path, dst: Path) -> Path:
    autocast = _modelopt(
        "modelopt.onnx.autocast",
        "this TensorRT has no FP16 builder flag (TensorRT 11 networks are strongly typed), so fp16 must come "
        f"from the ONNX: export the model in fp16, or {MODELOPT_HINT} so AutoCast can convert this fp32 ONNX",
    )
    import onnx

    model = autocast.convert_to_mixed_precision(
        onnx_path=str(src), low_precision_type="fp16", keep_io_types=True
    )
    onnx.save(model, str(dst))
    return dst


def quantize_int8(src: Path, dst: Path, calibration: np.ndarray) -> Path:
    quantization = _modelopt(
        "modelopt.onnx.quantization",
        f"--precision int8 quantises with NVIDIA ModelOpt (Q/DQ), which is not installed; {MODELOPT_HINT}",
    )
    quantization.quantize(
        onnx_path=str(src),
        quantize_mode="int8",
        calibration_data=calibration,
        calibration_method="entropy",
        output_path=str(dst),
    )
    return dst


def _modelopt(module: str, message: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise EngineUnavailableError(message) from None
