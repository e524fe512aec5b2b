"""The TensorRT builder: an ONNX model in, a TensorRT engine (plan + sidecar) out, through a safe cache.

``build_engine(onnx_path, BuildOptions(...))`` builds or reuses ``MODEL.<precision>.engine``;
``python -m engines.build`` is the same from the command line. One concept per module:

=================  ============================================================================
``options``        ``BuildOptions`` and the choices it takes
``onnx_file``      the ONNX's one image input, and a hash of the file and its external weights
``profiles``       the optimisation profile (min/opt/max input shapes)
``precision``      flags or a ModelOpt conversion that give the asked precision (TensorRT 10 vs 11)
``calibration``    int8 calibration frames, made model-ready like the pipeline's
``key``            the cache key: everything a plan depends on
``lock``           the file lock concurrent builders share
``cache``          the engine cache: verify, reuse, or build and write plan + sidecar atomically
``timing_cache``   TensorRT's timing cache, kept and merged between builds
``compat``         the one place that imports ``tensorrt`` and knows how 10 and 11 differ
``builder``        ``build_engine`` (the entry point) and the TensorRT build itself
``cli``            argument parsing, messages and exit codes of ``python -m engines.build``
=================  ============================================================================

Importing this package imports neither ``tensorrt`` nor ``torch``: both are imported when a build
runs (see docs/tensorrt.md).
"""

from engines.build.builder import build_engine, default_engine_path
from engines.build.cache import CacheResult, EngineRecord, read_record
from engines.build.key import EngineKey
from engines.build.options import HARDWARE_COMPAT, PRECISIONS, BuildOptions

__all__ = [
    "BuildOptions",
    "CacheResult",
    "EngineKey",
    "EngineRecord",
    "HARDWARE_COMPAT",
    "PRECISIONS",
    "build_engine",
    "default_engine_path",
    "read_record",
]
