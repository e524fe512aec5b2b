"""The Engine protocol: one network, ready to run, behind one small interface.

Every backend (ONNX Runtime, PyTorch, TensorRT) implements it. An engine is created on the thread
that will use it (the pipeline's infer stage creates it in ``start()``), so CUDA state lives on one
thread. ``infer`` takes a batch exactly as ``meta.input`` describes it (layout, dtype, channel
order, normalised or not) and returns exactly what ``meta.output`` describes: N×K×H×W logits or
an N×H×W uint8 class map. Turning frames into that batch and back is ``engines.transforms``' job.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from engines.metadata import ModelMeta


@runtime_checkable
class Engine(Protocol):
    meta: ModelMeta
    backend: str  # registry name: "onnxruntime", "torch", "tensorrt"
    device: str  # "cpu", "cuda", "cuda:1", ...
    max_batch: int  # the largest batch one infer() call accepts (1 for a static-batch graph)

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """Run one batch; blocks until the result is on the host."""
        ...

    def warmup(self, iterations: int = 3) -> None:
        """Run a few batches of representative (non-zero) input so first-call costs are paid."""
        ...

    def close(self) -> None:
        """Release sessions, buffers and device memory. Idempotent."""
        ...


def warmup_batch(meta: ModelMeta, batch: int = 1, seed: int = 0) -> np.ndarray:
    """A deterministic, non-zero batch shaped and typed as ``meta.input`` asks (for warm-up)."""
    rng = np.random.default_rng(seed)
    h, w = meta.input.height, meta.input.width
    shape = (batch, h, w, 3) if meta.input.layout == "NHWC" else (batch, 3, h, w)
    if meta.input.dtype == "uint8":
        return rng.integers(1, 256, size=shape, dtype=np.uint8)
    data = rng.standard_normal(size=shape).astype(np.float32)
    return data.astype(np.float16) if meta.input.dtype == "float16" else data
