"""Checks made before any thread starts: the config against the model, and the infer worker count.

``check_contracts`` refuses a config the model cannot serve (input size, class count, logits-only
postprocessing, palette) with a ``ConfigError`` or ``ModelError``; ``infer_workers`` turns
``runtime.infer_workers`` into the number of inference threads to run.
"""

from __future__ import annotations

import os
from pathlib import Path

from engines.errors import ModelError
from engines.metadata import ModelMeta
from engines.registry import backend_for, resolve_device
from engines.triton.address import IN_FLIGHT as TRITON_IN_FLIGHT
from pipeline.config import check_allowed
from pipeline.config_schema import Config
from segcore.errors import ConfigError


def check_contracts(config: Config, meta: ModelMeta, model_path: Path | str = "") -> tuple[int, int]:
    """Check config against the model before any thread starts; return the input (height, width)."""
    name = f"model {model_path}" if model_path else f"model {meta.name!r}"
    model_size = (meta.input.height, meta.input.width)
    size = tuple(config.preprocess.size) if config.preprocess.size else model_size
    if size != model_size and not meta.input.dynamic_size:
        raise ConfigError(
            f"preprocess.size is {size[0]}x{size[1]} but {name} takes a fixed {model_size[0]}x{model_size[1]} "
            "input; remove preprocess.size or export the model with dynamic sizes"
        )
    expected = config.model.num_classes
    if expected is not None and expected != meta.num_classes:
        raise ConfigError(
            f"{name} has {meta.num_classes} classes but model.num_classes is {expected}; "
            "use a model trained for that label set or change model.num_classes"
        )
    if not meta.output.scores:
        for key, value, wants in (
            ("postprocess.upsample", config.postprocess.upsample, "bilinear"),
            ("postprocess.smoothing", config.postprocess.smoothing, "ema"),
        ):
            if value == wants:
                raise ConfigError(
                    f"{key}: {wants} needs a model that returns logits, but {name} returns a class map "
                    "(argmax inside the graph); use "
                    f"{'upsample: nearest' if wants == 'bilinear' else 'smoothing: majority'} or a logits model"
                )
    if len(meta.palette) != meta.num_classes:
        raise ModelError(f"{name}: {len(meta.palette)} palette colours for {meta.num_classes} classes")
    return (int(size[0]), int(size[1]))


def infer_workers(config: Config, model_path: Path | str) -> int:
    """How many inference threads (each with its own engine) ``runtime.infer_workers`` asks for.

    0 means auto: two ONNX Runtime sessions of one thread each on a CPU with two or more cores
    (measured on 2 cores with ``python -m bench``: +15-25 % engine-only throughput and about
    +20 % pipeline throughput over one session on both cores, whose threads wait for each other
    at every operator; a saturated live run delivers more frames too, but an unsaturated one,
    e.g. one 30 fps camera, has a ~15 ms lower median latency with ``infer_workers: 1``), one
    engine otherwise (GPU engines, PyTorch, single-core machines).
    """
    workers = config.runtime.infer_workers
    if not isinstance(workers, int) or isinstance(workers, bool):
        raise ConfigError(f"runtime.infer_workers is {workers!r}; use 0 (auto) or the number of inference threads")
    check_allowed("runtime.infer_workers", workers)  # a config built in code skipped the loader's range check
    if workers:
        return workers
    try:
        backend = backend_for(model_path, config.model.backend)
    except ModelError:
        return 1
    if backend == "triton":  # requests in flight to a server: its batcher merges them, the network hides
        return TRITON_IN_FLIGHT
    cpu_onnx = backend == "onnxruntime" and resolve_device(backend, config.model.device) == "cpu"
    return 2 if cpu_onnx and (os.cpu_count() or 1) >= 2 else 1
