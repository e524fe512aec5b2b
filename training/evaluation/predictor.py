"""A model file as the evaluator runs it: the registry's engine, read out as class maps.

ONNX, TensorRT and sidecar'd ``.pt`` files open through ``engines.registry.open_engine`` as the
pipeline opens them. A segstream training checkpoint without a sidecar opens through the same
registry and the same PyTorch engine, with the sidecar its training implies
(``training.network_io.network_meta``: the size it was trained at, or ``size``) and at the precision
it was trained in (``AS_TRAINED``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engines.engine import Engine
from engines.errors import EngineUnavailableError, ModelError
from engines.metadata import InputSpec, ModelMeta, sidecar_path
from engines.registry import check_model_file, open_engine
from engines.transforms import to_class_maps
from training.network_io import AS_TRAINED, network_meta


class Predictor:
    """An engine fed batches as ``spec`` says (default: its sidecar's input) → N×h×w uint8 class maps."""

    def __init__(self, engine: Engine, spec: InputSpec | None = None) -> None:
        self.engine = engine
        self.input = spec or engine.meta.input
        self.num_classes = engine.meta.num_classes
        self.max_batch = max(1, int(engine.max_batch))

    def predict(self, batch: np.ndarray) -> np.ndarray:
        return to_class_maps(self.engine.infer(batch), self.engine.meta.output)


@dataclass(frozen=True)
class LoadedModel:
    predictor: Predictor
    class_names: tuple[str, ...]
    palette: tuple[tuple[int, int, int], ...]
    backend: str


def open_predictor(path: str | Path, *, device: str = "cpu", threads: int | None = None,
                   size: tuple[int, int] | None = None) -> LoadedModel:
    """Open ``path`` through the registry; ``size`` (height, width) runs a dynamic-size model at that size."""
    path = Path(path)
    check_model_file(path, hint="check --model")
    meta: ModelMeta | None = None
    options: dict[str, Any] = {}
    if path.suffix.lower() in (".pt", ".pth") and sidecar_path(path) is None:
        meta, options = checkpoint_meta(path, size), dict(AS_TRAINED)
    engine = open_engine(path, device=device, threads=threads, meta=meta, **options)
    predictor = Predictor(engine)
    if size is not None:
        if not engine.meta.input.dynamic_size and size != (engine.meta.input.height, engine.meta.input.width):
            raise ModelError(f"{path} has a fixed input size {engine.meta.input.height}x{engine.meta.input.width}; drop --size")
        predictor.input = dataclasses.replace(predictor.input, height=size[0], width=size[1])
    return LoadedModel(predictor, engine.meta.class_names, engine.meta.palette, engine.backend)


def checkpoint_meta(path: Path, size: tuple[int, int] | None) -> ModelMeta:
    """The sidecar a training checkpoint implies: its classes, at ``size`` or the size it records."""
    try:
        from engines.checkpoints import load_checkpoint
    except ImportError:
        raise EngineUnavailableError("evaluating a .pt checkpoint needs torch: pip install 'segstream[train]'") from None
    loaded = load_checkpoint(path)
    height, width = size or loaded.input_size or (0, 0)
    if not height:
        raise ModelError(f"{path} does not record its input size; pass --size HEIGHTxWIDTH")
    return network_meta(path.stem, loaded.class_names, loaded.palette, height, width, loaded.architecture)
