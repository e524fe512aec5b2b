"""ONNX → TensorRT engine, through the safe engine cache.

``build_engine`` is the entry point: it checks the request, plans the profile and the precision,
computes the cache key and hands ``ensure_engine`` a build that converts the ONNX if the precision
needs it and runs TensorRT (``build_plan``). Without TensorRT it raises EngineUnavailableError.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engines.build import compat as trt_compat
from engines.build.cache import LOCK_TIMEOUT, CacheResult, engine_meta, ensure_engine, sidecar_for
from engines.build.key import make_key
from engines.build.onnx_file import onnx_sha256, read_onnx_input
from engines.build.options import HARDWARE_COMPAT, BuildOptions, check_choices
from engines.build.precision import PrecisionPlan, convert_onnx, onnx_precision, plan_precision
from engines.build.profiles import Profile, plan_profile
from engines.build.timing_cache import default_timing_cache, load_timing_cache, save_timing_cache
from engines.errors import EngineUnavailableError, ModelError
from engines.metadata import load_for_model, sidecar_path
from engines.registry import check_model_file
from segcore.errors import UserInputError

if TYPE_CHECKING:
    import tensorrt as trt

    from engines.backends.cuda_buffers import Cuda

LOG = logging.getLogger("engines.build")


def build_engine(
    onnx_path: str | Path,
    opts: BuildOptions | None = None,
    *,
    out: str | Path | None = None,
    rebuild: bool = True,
    force: bool = False,
    lock_timeout: float | None = LOCK_TIMEOUT,
    verbose: bool = False,
    tensorrt_module: Any | None = None,
    identity: Callable[[int], tuple[str, str]] | None = None,
) -> CacheResult:
    """Make sure a valid engine for ``onnx_path`` exists (building it if allowed) and return it."""
    onnx_path = Path(onnx_path)
    opts = opts or BuildOptions()
    check_model_file(onnx_path, "ONNX model", hint="check the path")
    meta = load_for_model(onnx_path)
    onnx_in = read_onnx_input(onnx_path)
    precision = opts.precision or meta.precision
    check_choices(precision, opts)
    engine_path = _engine_path(onnx_path, out, precision)
    profile = plan_profile(onnx_in, meta, opts)

    trt_mod = tensorrt_module if tensorrt_module is not None else trt_compat.import_tensorrt()
    trt_version = trt_compat.version(trt_mod)
    gpu = (identity or gpu_identity)(opts.device)
    weak_typing = trt_compat.has_weak_typing(trt_mod)
    plan = plan_precision(precision, onnx_precision(meta, onnx_in), weak_typing=weak_typing)
    key = make_key(
        sha=onnx_sha256(onnx_path), trt_version=trt_version, gpu=gpu, precision=precision,
        profile=profile, plan=plan, opts=opts,
    )
    timing_cache = None
    if opts.use_timing_cache:
        timing_cache = opts.timing_cache or default_timing_cache(
            engine_path, trt_version, key.compute_capability
        )

    def build() -> bytes:
        with tempfile.TemporaryDirectory(prefix="segstream-build-") as tmp:
            source = convert_onnx(onnx_path, plan, Path(tmp), meta, profile, opts)
            return build_plan(trt_mod, source, profile, plan, opts,
                              timing_cache=timing_cache, verbose=verbose)

    info = {"onnx": str(onnx_path), "gpu_index": opts.device, "timing_cache": str(timing_cache or "")}
    return ensure_engine(
        engine_path, key, engine_meta(meta, profile, precision=precision), build,
        rebuild=rebuild, force=force, lock_timeout=lock_timeout, build_info=info, log=LOG,
    )


def default_engine_path(onnx_path: Path, precision: str) -> Path:
    """``model.onnx`` → ``model.fp16.engine`` (its sidecar ``model.fp16.yaml`` differs from the ONNX's)."""
    return onnx_path.with_name(f"{onnx_path.stem}.{precision}.engine")


def _engine_path(onnx_path: Path, out: str | Path | None, precision: str) -> Path:
    """``--out`` or the default; refused where the engine's sidecar would be the ONNX's own."""
    engine_path = Path(out) if out is not None else default_engine_path(onnx_path, precision)
    if engine_path.suffix.lower() in (".onnx", ".yaml", ".yml", ".json"):
        raise UserInputError(f"--out {engine_path}: give the engine a .engine or .plan name")
    own_sidecar = sidecar_path(onnx_path)
    if own_sidecar is not None and sidecar_for(engine_path).resolve() == own_sidecar.resolve():
        raise UserInputError(
            f"--out {engine_path} would share the sidecar {own_sidecar.name} with the ONNX; "
            f"choose another name, e.g. {default_engine_path(onnx_path, precision).name}"
        )
    return engine_path


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


# ----------------------------------------------------------------------------------------------
# TensorRT itself (tested against tests/fake_tensorrt.FakeTensorRT)


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
    network = _parse(trt_mod, builder, logger, onnx_path, profile, plan)
    config = _builder_config(trt_mod, builder, profile, plan, opts)
    cache = load_timing_cache(config, timing_cache)

    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise ModelError(f"TensorRT could not build {onnx_path}; its log above says why")
    if cache is not None and timing_cache is not None:
        save_timing_cache(config, cache, timing_cache)
    return bytes(serialized)


def _parse(trt_mod: Any, builder: trt.Builder, logger: trt.ILogger, onnx_path: Path, profile: Profile,
           plan: PrecisionPlan) -> trt.INetworkDefinition:
    """The network TensorRT parses from ``onnx_path``, checked to have the profile's one input."""
    network = builder.create_network(trt_compat.network_flags(trt_mod, strongly_typed=plan.strongly_typed))
    parser: trt.OnnxParser = trt_mod.OnnxParser(network, logger)
    parsed = parser.parse_from_file(str(onnx_path))
    errors = parser_errors(parser)
    if not parsed or errors:
        listed = " | ".join(f"[{i + 1}] {e}" for i, e in enumerate(errors)) or "no error was recorded"
        raise ModelError(f"TensorRT cannot parse {onnx_path}: {len(errors)} error(s): {listed}")
    if network.num_inputs != 1:
        raise ModelError(
            f"{onnx_path}: TensorRT sees {network.num_inputs} inputs; one image input is expected"
        )
    input_name = network.get_input(0).name
    if input_name != profile.name:
        raise ModelError(f"{onnx_path}: TensorRT names the input {input_name!r}, the ONNX {profile.name!r}")
    return network


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


def _builder_config(trt_mod: Any, builder: trt.Builder, profile: Profile, plan: PrecisionPlan,
                    opts: BuildOptions) -> trt.IBuilderConfig:
    """Workspace, optimisation level, precision flag, hardware compatibility and the profile."""
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
            raise EngineUnavailableError(
                f"TensorRT {trt_compat.version(trt_mod)} has no hardware compatibility levels"
            )
        config.hardware_compatibility_level = getattr(levels, HARDWARE_COMPAT[opts.hardware_compat])
    optimization_profile = builder.create_optimization_profile()
    low, opt, high = (trt_mod.Dims(list(shape)) for shape in (profile.min, profile.opt, profile.max))
    optimization_profile.set_shape(profile.name, low, opt, high)
    config.add_optimization_profile(optimization_profile)
    return config
