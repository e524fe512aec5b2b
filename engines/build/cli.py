"""``python -m engines.build``: build (or reuse) a TensorRT engine from an ONNX model.

    python -m engines.build model.onnx                       # model.fp32.engine + model.fp32.yaml
    python -m engines.build model.onnx --precision fp16 --max-batch 4
    python -m engines.build model.onnx --opt-size 512x1024 --max-size 720x1280   # dynamic-size ONNX
    python -m engines.build model.onnx --precision int8 --calib frames/   # needs nvidia-modelopt

Exit status: 0 built or up to date; 2 for a bad argument, a bad model, a refused stale engine, or
TensorRT/CUDA/ModelOpt missing (one line saying what to install); 1 for anything else that failed.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from engines.build.builder import build_engine
from engines.build.cache import LOCK_TIMEOUT
from engines.build.options import HARDWARE_COMPAT, PRECISIONS, BuildOptions
from segcore.exits import CommandParser, float_range, int_range, run_command
from segcore.sizes import hw_argument

DEFAULTS = BuildOptions()


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = CommandParser(
        prog="python -m engines.build", description="Build a TensorRT engine from an ONNX model."
    )
    p.add_argument("onnx", type=Path, help="the ONNX model (its sidecar .yaml must sit beside it)")
    p.add_argument("--out", type=Path, help="engine path (default: MODEL.<precision>.engine beside the ONNX)")
    p.add_argument("--precision", choices=PRECISIONS, help="default: the ONNX's own precision")
    for which in ("min", "opt", "max"):
        p.add_argument(f"--{which}-batch", type=int_range(1),
                       help=f"{which} batch of the profile (dynamic-batch ONNX only)")
    for which in ("min", "opt", "max"):
        p.add_argument(f"--{which}-size", type=hw_argument, metavar="HxW",
                       help=f"{which} input size (dynamic-size ONNX only)")
    p.add_argument("--workspace-mb", type=int_range(1), help="builder workspace limit in MiB (default: TensorRT's)")
    p.add_argument("--opt-level", type=int, choices=range(6), metavar="0-5",
                   help="builder optimisation level")
    p.add_argument("--hardware-compat", choices=tuple(HARDWARE_COMPAT), default=DEFAULTS.hardware_compat,
                   help="ampere+: one plan for every Ampere-or-newer GPU; "
                   "same-cc: for GPUs of this compute capability")
    p.add_argument("--timing-cache", type=Path,
                   help="timing cache file (default: beside the engine, per TensorRT version and GPU)")
    p.add_argument("--no-timing-cache", action="store_true", help="build without a persistent timing cache")
    p.add_argument("--no-rebuild", action="store_true",
                   help="refuse instead of (re)building a missing or stale engine")
    p.add_argument("--force", action="store_true", help="rebuild even an up-to-date engine")
    p.add_argument("--calib",
                   help="int8 calibration frames: a folder of images, a video, or a model-ready .npy")
    p.add_argument("--calib-frames", type=int_range(1), default=DEFAULTS.calib_frames,
                   help=f"calibration frames to use (default {DEFAULTS.calib_frames})")
    p.add_argument("--device", type=int_range(0), default=DEFAULTS.device,
                   help=f"CUDA device index (default {DEFAULTS.device})")
    p.add_argument("--lock-timeout", type=float_range(0), default=LOCK_TIMEOUT,
                   help="seconds to wait for a concurrent build")
    p.add_argument("-v", "--verbose", action="store_true", help="TensorRT's verbose log")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None, **inject: Any) -> int:
    """The CLI; ``inject`` passes ``tensorrt_module``/``identity`` through to ``build_engine`` (tests)."""
    return run_command(lambda args: _main(args, **inject), argv)


def _main(argv: list[str], **inject: Any) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    opts = BuildOptions(
        precision=args.precision,
        min_batch=args.min_batch, opt_batch=args.opt_batch, max_batch=args.max_batch,
        min_size=args.min_size, opt_size=args.opt_size, max_size=args.max_size,
        workspace_mb=args.workspace_mb, opt_level=args.opt_level, hardware_compat=args.hardware_compat,
        timing_cache=args.timing_cache, use_timing_cache=not args.no_timing_cache,
        calib=args.calib, calib_frames=args.calib_frames, device=args.device,
    )
    result = build_engine(
        args.onnx, opts, out=args.out, rebuild=not args.no_rebuild, force=args.force,
        lock_timeout=args.lock_timeout, verbose=args.verbose, **inject,
    )
    print(f"{result.path} ({'built: ' + result.reason if result.built else result.reason})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
