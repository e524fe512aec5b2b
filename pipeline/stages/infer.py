"""Inference: the one stage that owns the engine. It is opened in ``start()``, on this stage's
thread, so device state (CUDA contexts, TensorRT execution contexts) lives on one thread.

Frames from several sources are batched into one engine call, up to ``batch_size`` (and the
engine's own ``max_batch``); the pipeline gathers the batch with a bounded wait.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import numpy as np

from engines.devices import parse_device
from engines.engine import Engine
from engines.errors import ModelError
from engines.metadata import ModelMeta
from engines.registry import backend_for, check_options, open_engine
from engines.triton.address import is_model_uri
from pipeline.stage import Packet


class InferStage:
    name = "infer"
    on_device = False  # engine input and output are host arrays (DeviceInferStage: device tensors)

    def __init__(
        self,
        model_path: str | Path,
        *,
        backend: str = "auto",
        device: str = "cpu",
        threads: int | None = None,
        options: dict[str, Any] | None = None,
        batch_size: int = 1,
        warmup: int = 2,
        meta: ModelMeta | None = None,
    ) -> None:
        self.model_path = model_path if is_model_uri(model_path) else Path(model_path)  # triton://: a str
        self.backend = backend
        self.device = device
        self.threads = threads or None
        self.options = dict(options or {})
        # a bad device or option is a ConfigError here, not when the engine opens on its thread; a
        # file that no backend owns is left to open_engine to report
        parse_device(device)
        with contextlib.suppress(ModelError):
            check_options(backend_for(self.model_path, backend), self.options)
        self.batch_size = max(1, int(batch_size))
        self.warmup = warmup
        self.meta = meta  # None: the engine reads the model's own description
        self.engine: Engine | None = None
        self.max_batch = 1
        self.engine_backend: str | None = None  # what actually ran ("auto" resolved); kept after stop()
        self.engine_device: str | None = None

    def start(self) -> None:
        self.engine = open_engine(
            self.model_path, backend=self.backend, device=self.device, threads=self.threads, meta=self.meta,
            **self.options,
        )
        self.max_batch = max(1, min(self.batch_size, int(self.engine.max_batch)))
        self.engine_backend, self.engine_device = self.engine.backend, self.engine.device
        if self.warmup:
            self.engine.warmup(self.warmup)

    def process(self, packet: Packet) -> Packet:
        return self.process_batch([packet])[0]

    def process_batch(self, packets: list[Packet]) -> list[Packet]:
        if self.engine is None:
            raise RuntimeError("InferStage.start() was not called")
        tensors = [p.tensor for p in packets if p.tensor is not None]
        if len(tensors) != len(packets):
            raise RuntimeError("infer got a packet that was not preprocessed")
        batch = tensors[0] if len(tensors) == 1 else np.concatenate(tensors, axis=0)
        output = self.engine.infer(batch)
        if output.shape[0] != len(packets):
            raise RuntimeError(f"the engine returned {output.shape[0]} results for a batch of {len(packets)}")
        for packet, result in zip(packets, output, strict=True):
            packet.output = result
            packet.tensor = None  # the input is not needed any more; free it early
        return packets

    def interrupt(self) -> None:
        """End a wait inside the engine now (a model server that does not answer), from another thread."""
        engine = self.engine
        if engine is not None and hasattr(engine, "interrupt"):
            engine.interrupt()

    def stop(self) -> None:
        if self.engine is not None:
            self.engine.close()
            self.engine = None
