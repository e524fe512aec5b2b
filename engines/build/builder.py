"""ONNX → TensorRT engine, through the safe engine cache.

    python -m engines.build model.onnx                       # model.fp32.engine + model.fp32.yaml
    python -m engines.build model.onnx --precision fp16 --max-batch 4
    python -m engines.build model.onnx --opt-size 512x1024 --max-size 720x1280   # dynamic-size ONNX
    python -m engines.build model.onnx --precision int8 --calib frames/   # needs nvidia-modelopt

The optimisation profile comes from the ONNX input shape and the sidecar: fixed dimensions stay
fixed; a dynamic batch gets min/opt/max 1/1/4 unless told; a dynamic size defaults to the sidecar's
size (a fixed-size engine, so CUDA graphs apply) unless ``--min/--opt/--max-size`` widen it.

Precision. TensorRT 10 (Jetson, DRIVE OS): ``fp16`` on an fp32 ONNX sets the FP16 builder flag; an
fp16 ONNX is built strongly typed. TensorRT 11 has no precision flags: networks are strongly typed,
so the precision comes from the ONNX itself. ``fp16`` there needs an fp16 ONNX (export it so) or
nvidia-modelopt, whose AutoCast converts the fp32 ONNX first. ``int8`` always goes through
ModelOpt's Q/DQ quantisation (``modelopt.onnx.quantization``) calibrated on ``--calib`` frames, and
is built strongly typed on both versions. Features are detected, not read off version strings.

The timing cache persists between builds (``--timing-cache``; by default one file per TensorRT
version and compute capability beside the engine) and is merged, under a lock, with what
concurrent builders saved. Without TensorRT this exits 2 with one line.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import logging
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from engines.build import compat as trt_compat
from engines.build.cache import (
    CacheResult,
    EngineKey,
    Profile,
    engine_meta,
    ensure_engine,
    file_lock,
    sidecar_for,
)
from engines.errors import EngineUnavailableError, ModelError
from engines.metadata import ModelMeta, load_for_model, sidecar_path
from segcore.errors import SegstreamError, UserInputError
from segcore.files import sha256_file, write_atomic
from segcore.media import is_image
from segcore.sizes import hw_argument

if TYPE_CHECKING:
    import tensorrt as trt

    from engines.backends.cuda_buffers import Cuda

LOG = logging.getLogger("engines.build")
PRECISIONS = ("fp32", "fp16", "int8")
HARDWARE_COMPAT = {"none": "NONE", "ampere+": "AMPERE_PLUS", "same-cc": "SAME_COMPUTE_CAPABILITY"}
DEFAULT_MAX_BATCH = 4
MODELOPT_HINT = "pip install 'nvidia-modelopt[onnx]'"


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


@dataclass(frozen=True)
class OnnxInput:
    name: str
    dims: tuple[int | None, ...]  # None where the dimension is dynamic
    elem_type: str  # "float32", "float16", "uint8", ...


# ----------------------------------------------------------------------------------------------
# Pure host-side planning: profile, key, paths (tested without TensorRT)


def read_onnx_input(path: Path) -> OnnxInput:
    """The single graph input's name, shape and element type, without loading weights."""
    try:
        onnx = importlib.import_module("onnx")
    except ImportError:
        return _onnx_input_via_ort(path)
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf raises DecodeError and friends
        raise ModelError(f"{path} is not a readable ONNX file: {exc}") from None
    initializers = {init.name for init in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    if len(inputs) != 1:
        raise ModelError(f"{path}: expected one graph input, found {len(inputs)}")
    tensor = inputs[0].type.tensor_type
    dims = tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in tensor.shape.dim)
    elem = onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type).name
    return OnnxInput(inputs[0].name, dims, elem)


def _onnx_input_via_ort(path: Path) -> OnnxInput:
    import onnxruntime as ort

    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ModelError(f"{path} is not a readable ONNX file: {exc}") from None
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise ModelError(f"{path}: expected one graph input, found {len(inputs)}")
    types = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(uint8)": "uint8"}
    dims = tuple(d if isinstance(d, int) and d > 0 else None for d in inputs[0].shape)
    return OnnxInput(inputs[0].name, dims, types.get(inputs[0].type, inputs[0].type))


def plan_profile(onnx_in: OnnxInput, meta: ModelMeta, opts: BuildOptions) -> Profile:
    """min/opt/max shapes of the input, from the ONNX dims, the sidecar and the options."""
    dims = onnx_in.dims
    if len(dims) != 4:
        raise ModelError(f"ONNX input {onnx_in.name!r} has rank {len(dims)}; a 4-D image batch is expected")
    nhwc = meta.input.layout == "NHWC"
    h_axis, w_axis, c_axis = (1, 2, 3) if nhwc else (2, 3, 1)
    if dims[c_axis] not in (None, 3):
        raise ModelError(
            f"ONNX input {onnx_in.name!r} has {dims[c_axis]} channels on the {meta.input.layout} channel axis; "
            "the sidecar's layout does not match the graph"
        )

    sizes = (opts.min_size, opts.opt_size, opts.max_size)
    asked_h = tuple(None if s is None else s[0] for s in sizes)
    asked_w = tuple(None if s is None else s[1] for s in sizes)
    asked_batch = (opts.min_batch, opts.opt_batch, opts.max_batch)
    batch = _fixed("batch", dims[0], asked_batch) or _batch_range(*asked_batch)
    heights = _fixed("height", dims[h_axis], asked_h) or _size_range(*asked_h, default=meta.input.height)
    widths = _fixed("width", dims[w_axis], asked_w) or _size_range(*asked_w, default=meta.input.width)
    shapes: list[list[int]] = [[0, 0, 0, 0] for _ in range(3)]
    for i in range(3):
        shapes[i][0] = batch[i]
        shapes[i][h_axis] = heights[i]
        shapes[i][w_axis] = widths[i]
        shapes[i][c_axis] = 3
    try:
        return Profile(onnx_in.name, tuple(shapes[0]), tuple(shapes[1]), tuple(shapes[2]))
    except ValueError as exc:
        raise UserInputError(f"{exc}; check --min/--opt/--max-batch and --min/--opt/--max-size") from None


def _fixed(what: str, fixed: int | None, asked: tuple[int | None, ...]) -> tuple[int, int, int] | None:
    """A fixed ONNX dimension as (v, v, v), or None when it is dynamic; asking to change it is an error."""
    if fixed is None:
        return None
    wrong = [v for v in asked if v is not None and v != fixed]
    if wrong:
        flag = "--min/--opt/--max-batch" if what == "batch" else "--min/--opt/--max-size"
        raise UserInputError(
            f"the ONNX has a fixed {what} of {fixed}, so {flag} cannot ask for {wrong[0]}; "
            f"export the model with a dynamic {what} to change it"
        )
    return (fixed, fixed, fixed)


def _batch_range(lo: int | None, opt: int | None, hi: int | None) -> tuple[int, int, int]:
    """A dynamic batch: min 1, opt = min, max 4 unless asked."""
    lo = 1 if lo is None else lo
    opt = lo if opt is None else opt
    return (lo, opt, max(opt, DEFAULT_MAX_BATCH) if hi is None else hi)


def _size_range(lo: int | None, opt: int | None, hi: int | None, *, default: int) -> tuple[int, int, int]:
    """A dynamic height or width: the sidecar's size for all three unless asked."""
    opt = default if opt is None else opt
    return (opt if lo is None else lo, opt, opt if hi is None else hi)


def onnx_sha256(path: Path) -> str:
    """sha256 over the ONNX file and any external-data files it names (weights live there too)."""
    parts = [path, *_external_data_files(path)]
    return hashlib.sha256("".join(f"{p.name}:{sha256_file(p)}\n" for p in parts).encode()).hexdigest()


def _external_data_files(path: Path) -> list[Path]:
    try:
        onnx = importlib.import_module("onnx")
    except ImportError:
        guess = path.with_name(path.name + ".data")
        return [guess] if guess.is_file() else []
    model = onnx.load(str(path), load_external_data=False)
    names: set[str] = set()
    for init in model.graph.initializer:
        if init.data_location == onnx.TensorProto.EXTERNAL:
            names.update(e.value for e in init.external_data if e.key == "location")
    return [path.parent / n for n in sorted(names)]


def default_engine_path(onnx_path: Path, precision: str) -> Path:
    """``model.onnx`` → ``model.fp16.engine`` (its sidecar ``model.fp16.yaml`` differs from the ONNX's)."""
    return onnx_path.with_name(f"{onnx_path.stem}.{precision}.engine")


def default_timing_cache(engine_path: Path, trt_version: str, compute_capability: str) -> Path:
    """Beside the engine, one per TensorRT version and GPU class (every engine built there shares it)."""
    capability = compute_capability.replace(".", "").replace("+", "plus")
    return engine_path.with_name(f"tensorrt-timing-{trt_version}-sm{capability}.cache")


def onnx_precision(meta: ModelMeta, onnx_in: OnnxInput) -> str:
    return "fp16" if meta.precision == "fp16" or onnx_in.elem_type == "float16" else "fp32"


@dataclass(frozen=True)
class PrecisionPlan:
    """How the asked precision is reached with this TensorRT."""

    strongly_typed: bool
    fp16_flag: bool  # TensorRT 10 weak typing only
    convert: str | None  # None, "autocast-fp16" or "modelopt-int8": rewrite the ONNX first


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


def make_key(
    *,
    sha: str,
    trt_version: str,
    gpu: tuple[str, str],
    precision: str,
    profile: Profile,
    plan: PrecisionPlan,
    opts: BuildOptions,
) -> EngineKey:
    flags: dict[str, Any] = {
        "strongly_typed": plan.strongly_typed,
        "fp16_flag": plan.fp16_flag,
        "convert": plan.convert,
        "workspace_mb": opts.workspace_mb,
        "opt_level": opts.opt_level,
        "hardware_compat": opts.hardware_compat,
    }
    if precision == "int8":
        flags.update(calib=opts.calib, calib_frames=opts.calib_frames)
    gpu_name, capability = gpu  # what the plan needs: this GPU, or a class of GPUs when portable
    if opts.hardware_compat == "ampere+":
        gpu_name, capability = "any Ampere or newer GPU", "8.0+"
    elif opts.hardware_compat == "same-cc":
        gpu_name = f"any GPU of compute capability {capability}"
    return EngineKey(
        onnx_sha256=sha,
        tensorrt_version=trt_version,
        gpu_name=gpu_name,
        compute_capability=capability,
        precision=precision,
        profiles=(profile,),
        flags=flags,
    )


# ----------------------------------------------------------------------------------------------
# TensorRT itself (tested against tests/fake_tensorrt.FakeTensorRT)


def parser_errors(parser: trt.OnnxParser) -> list[str]:
    """Every error the ONNX parser recorded, each with its node's name and operator."""
    lines = []
    for i in range(parser.num_errors):
        err = parser.get_error(i)
        node = err.node()
        name = getattr(err, "node_name", lambda: "")() or (f"#{node}" if node >= 0 else "")
        op = getattr(err, "node_operator", lambda: "")()
        where = f"node {name!r}" + (f" ({op})" if op else "") if name else "model"
        lines.append(f"{where}: {err.desc()}")
    return lines


def build_plan(
    trt_mod: Any,
    onnx_path: Path,
    profile: Profile,
    plan: PrecisionPlan,
    opts: BuildOptions,
    *,
    timing_cache: Path | None,
    verbose: bool = False,
) -> bytes:
    """Parse ``onnx_path`` and build a serialised plan. Raises ModelError with every parser error."""
    logger = trt_mod.Logger(trt_mod.Logger.VERBOSE if verbose else trt_mod.Logger.WARNING)
    try:
        builder: trt.Builder = trt_mod.Builder(logger)
    except Exception as exc:  # pybind raises TypeError/RuntimeError when no GPU or driver is usable
        raise EngineUnavailableError(
            f"TensorRT cannot create a builder here ({exc}); it needs an NVIDIA GPU with a working driver"
        ) from None
    network = builder.create_network(trt_compat.network_flags(trt_mod, strongly_typed=plan.strongly_typed))
    parser: trt.OnnxParser = trt_mod.OnnxParser(network, logger)
    parsed = parser.parse_from_file(str(onnx_path))
    errors = parser_errors(parser)
    if not parsed or errors:
        listed = " | ".join(f"[{i + 1}] {e}" for i, e in enumerate(errors)) or "no error was recorded"
        raise ModelError(f"TensorRT cannot parse {onnx_path}: {len(errors)} error(s): {listed}")
    if network.num_inputs != 1:
        raise ModelError(f"{onnx_path}: TensorRT sees {network.num_inputs} inputs; one image input is expected")
    input_name = network.get_input(0).name
    if input_name != profile.name:
        raise ModelError(f"{onnx_path}: TensorRT names the input {input_name!r}, the ONNX {profile.name!r}")

    config = builder.create_builder_config()
    if opts.workspace_mb:
        config.set_memory_pool_limit(trt_mod.MemoryPoolType.WORKSPACE, int(opts.workspace_mb) << 20)
    if opts.opt_level is not None:
        config.builder_optimization_level = int(opts.opt_level)
    if plan.fp16_flag:
        config.set_flag(trt_mod.BuilderFlag.FP16)
    if opts.hardware_compat != "none":
        levels = getattr(trt_mod, "HardwareCompatibilityLevel", None)
        if levels is None:
            raise EngineUnavailableError(f"TensorRT {trt_compat.version(trt_mod)} has no hardware compatibility levels")
        config.hardware_compatibility_level = getattr(levels, HARDWARE_COMPAT[opts.hardware_compat])
    optimization_profile = builder.create_optimization_profile()
    optimization_profile.set_shape(
        profile.name, trt_mod.Dims(list(profile.min)), trt_mod.Dims(list(profile.opt)), trt_mod.Dims(list(profile.max))
    )
    config.add_optimization_profile(optimization_profile)
    cache = _load_timing_cache(config, timing_cache)

    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise ModelError(f"TensorRT could not build {onnx_path}; its log above says why")
    if cache is not None and timing_cache is not None:
        _save_timing_cache(config, cache, timing_cache)
    return bytes(serialized)


def _load_timing_cache(config: trt.IBuilderConfig, path: Path | None) -> trt.ITimingCache | None:
    if path is None:
        return None
    data = path.read_bytes() if path.is_file() else b""
    cache = config.create_timing_cache(data)
    if not config.set_timing_cache(cache, False):
        LOG.warning("timing cache %s does not fit this TensorRT/GPU; starting an empty one", path)
        cache = config.create_timing_cache(b"")
        config.set_timing_cache(cache, False)
    else:
        LOG.info("timing cache %s: %s", path, f"{len(data)} bytes loaded" if data else "new")
    return cache


def _save_timing_cache(config: trt.IBuilderConfig, cache: trt.ITimingCache, path: Path) -> None:
    """Merge what is on disk now (another builder may have saved) into ours, then write it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(path.with_name(path.name + ".lock"), timeout=600):
        if path.is_file():
            on_disk = config.create_timing_cache(path.read_bytes())
            cache.combine(on_disk, False)
        write_atomic(path, bytes(cache.serialize()))


# ----------------------------------------------------------------------------------------------
# ModelOpt conversions (optional extra, imported only when asked for)


def _modelopt(module: str, message: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise EngineUnavailableError(message) from None


def autocast_fp16(src: Path, dst: Path) -> Path:
    autocast = _modelopt(
        "modelopt.onnx.autocast",
        "this TensorRT has no FP16 builder flag (TensorRT 11 networks are strongly typed), so fp16 must come "
        f"from the ONNX: export the model in fp16, or {MODELOPT_HINT} so AutoCast can convert this fp32 ONNX",
    )
    import onnx

    model = autocast.convert_to_mixed_precision(onnx_path=str(src), low_precision_type="fp16", keep_io_types=True)
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
    h_axis, w_axis = (1, 2) if meta.input.layout == "NHWC" else (2, 3)
    height, width = profile.opt[h_axis], profile.opt[w_axis]
    fitted = [transforms.fit(img, height, width, "stretch")[0] for img in images]
    return transforms.to_input(fitted, meta.input)


def _read_frames(path: Path, count: int) -> list[np.ndarray]:
    import cv2

    if path.is_dir():
        files = sorted(p for p in path.iterdir() if is_image(p))
        step = max(1, len(files) // max(1, count))
        images = [img for p in files[::step][:count] if (img := cv2.imread(str(p), cv2.IMREAD_COLOR)) is not None]
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
        raise UserInputError(f"--calib {path}: no such file or folder (give a folder of images, a video or a .npy)")
    if not images:
        raise UserInputError(f"--calib {path}: no readable frames found")
    return images


# ----------------------------------------------------------------------------------------------
# Orchestration


def gpu_identity(index: int, cuda: Cuda | None = None) -> tuple[str, str]:
    """(name, compute capability) of CUDA device ``index``: cuda-python, else torch."""
    from engines.backends.cuda_buffers import Cuda

    try:
        return (cuda or Cuda()).device_identity(index)
    except EngineUnavailableError as first:
        try:
            import torch
        except ImportError:
            raise first from None
        if not torch.cuda.is_available():
            raise first from None
        major, minor = torch.cuda.get_device_capability(index)
        return torch.cuda.get_device_name(index), f"{major}.{minor}"


def build_engine(
    onnx_path: str | Path,
    opts: BuildOptions | None = None,
    *,
    out: str | Path | None = None,
    rebuild: bool = True,
    force: bool = False,
    lock_timeout: float | None = 3600.0,
    verbose: bool = False,
    tensorrt_module: Any | None = None,
    identity: Callable[[int], tuple[str, str]] | None = None,
) -> CacheResult:
    """Make sure a valid engine for ``onnx_path`` exists (building it if allowed) and return it."""
    onnx_path = Path(onnx_path)
    opts = opts or BuildOptions()
    if not onnx_path.is_file():
        raise ModelError(f"ONNX model {onnx_path} does not exist")
    meta = load_for_model(onnx_path)
    onnx_in = read_onnx_input(onnx_path)
    precision = opts.precision or meta.precision
    if precision not in PRECISIONS:
        raise UserInputError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}")
    if opts.hardware_compat not in HARDWARE_COMPAT:
        raise UserInputError(f"hardware_compat {opts.hardware_compat!r} is not one of {', '.join(HARDWARE_COMPAT)}")
    if precision == "int8" and not opts.calib:
        raise UserInputError("--precision int8 needs --calib (a folder of images, a video or a .npy batch)")
    engine_path = Path(out) if out is not None else default_engine_path(onnx_path, precision)
    if engine_path.suffix.lower() in (".onnx", ".yaml", ".yml", ".json"):
        raise UserInputError(f"--out {engine_path}: give the engine a .engine or .plan name")
    own_sidecar = sidecar_path(onnx_path)
    if own_sidecar is not None and sidecar_for(engine_path).resolve() == own_sidecar.resolve():
        raise UserInputError(
            f"--out {engine_path} would share the sidecar {own_sidecar.name} with the ONNX; "
            f"choose another name, e.g. {default_engine_path(onnx_path, precision).name}"
        )
    profile = plan_profile(onnx_in, meta, opts)

    trt_mod = tensorrt_module if tensorrt_module is not None else trt_compat.import_tensorrt()
    trt_version = trt_compat.version(trt_mod)
    gpu = (identity or gpu_identity)(opts.device)
    plan = plan_precision(precision, onnx_precision(meta, onnx_in), weak_typing=trt_compat.has_weak_typing(trt_mod))
    key = make_key(
        sha=onnx_sha256(onnx_path), trt_version=trt_version, gpu=gpu, precision=precision,
        profile=profile, plan=plan, opts=opts,
    )
    timing_cache = None
    if opts.use_timing_cache:
        timing_cache = opts.timing_cache or default_timing_cache(engine_path, trt_version, key.compute_capability)

    def build() -> bytes:
        with tempfile.TemporaryDirectory(prefix="segstream-build-") as tmp:
            source = _convert(onnx_path, plan, Path(tmp), meta, profile, opts)
            return build_plan(trt_mod, source, profile, plan, opts, timing_cache=timing_cache, verbose=verbose)

    info = {"onnx": str(onnx_path), "gpu_index": opts.device, "timing_cache": str(timing_cache or "")}
    return ensure_engine(
        engine_path, key, engine_meta(meta, profile, precision=precision), build,
        rebuild=rebuild, force=force, lock_timeout=lock_timeout, build_info=info, log=LOG,
    )


def _convert(onnx_path: Path, plan: PrecisionPlan, tmp: Path, meta: ModelMeta, profile: Profile,
             opts: BuildOptions) -> Path:
    if plan.convert == "autocast-fp16":
        LOG.warning("TensorRT without precision flags: converting %s to fp16 with ModelOpt AutoCast", onnx_path)
        return autocast_fp16(onnx_path, tmp / "autocast_fp16.onnx")
    if plan.convert == "modelopt-int8":
        if opts.calib is None:
            raise UserInputError("--precision int8 needs --calib (a folder of images, a video or a .npy batch)")
        batch = calibration_batch(opts.calib, meta, profile, opts.calib_frames)
        LOG.warning("quantising %s to int8 with ModelOpt on %d calibration frames", onnx_path, len(batch))
        return quantize_int8(onnx_path, tmp / "int8_qdq.onnx", batch)
    return onnx_path


# ----------------------------------------------------------------------------------------------
# CLI



def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m engines.build", description="Build a TensorRT engine from an ONNX model.")
    p.add_argument("onnx", type=Path, help="the ONNX model (its sidecar .yaml must sit beside it)")
    p.add_argument("--out", type=Path, help="engine path (default: MODEL.<precision>.engine beside the ONNX)")
    p.add_argument("--precision", choices=PRECISIONS, help="default: the ONNX's own precision")
    for which in ("min", "opt", "max"):
        p.add_argument(f"--{which}-batch", type=int, help=f"{which} batch of the profile (dynamic-batch ONNX only)")
    for which in ("min", "opt", "max"):
        p.add_argument(f"--{which}-size", type=hw_argument, metavar="HxW", help=f"{which} input size (dynamic-size ONNX only)")
    p.add_argument("--workspace-mb", type=int, help="builder workspace limit in MiB (default: TensorRT's)")
    p.add_argument("--opt-level", type=int, choices=range(6), metavar="0-5", help="builder optimisation level")
    p.add_argument("--hardware-compat", choices=tuple(HARDWARE_COMPAT), default="none",
                   help="ampere+: one plan for every Ampere-or-newer GPU; same-cc: for GPUs of this compute capability")
    p.add_argument("--timing-cache", type=Path, help="timing cache file (default: beside the engine, per TensorRT version and GPU)")
    p.add_argument("--no-timing-cache", action="store_true", help="build without a persistent timing cache")
    p.add_argument("--no-rebuild", action="store_true", help="refuse instead of (re)building a missing or stale engine")
    p.add_argument("--force", action="store_true", help="rebuild even an up-to-date engine")
    p.add_argument("--calib", help="int8 calibration frames: a folder of images, a video, or a model-ready .npy")
    p.add_argument("--calib-frames", type=int, default=64, help="calibration frames to use (default 64)")
    p.add_argument("--device", type=int, default=0, help="CUDA device index (default 0)")
    p.add_argument("--lock-timeout", type=float, default=3600.0, help="seconds to wait for a concurrent build")
    p.add_argument("-v", "--verbose", action="store_true", help="TensorRT's verbose log")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None, **inject: Any) -> int:
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
    try:
        result = build_engine(
            args.onnx, opts, out=args.out, rebuild=not args.no_rebuild, force=args.force,
            lock_timeout=args.lock_timeout, verbose=args.verbose, **inject,
        )
    except (UserInputError, EngineUnavailableError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except SegstreamError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{result.path} ({'built: ' + result.reason if result.built else result.reason})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
