"""ONNX Runtime backend: the CPU default; uses the CUDA or TensorRT execution providers when present.

Idle intra-op threads do not spin by default (``spinning=False``; ONNX Runtime's own default is to
spin): spinning threads burn the CPU that decoding, rendering and encoding need in the same
process. Measured on 2 cores with ``python -m bench`` (docs/benchmarks.md): the engine alone on an
idle machine is up to 10 % faster with spinning, but the pipeline and the sequential loop are
3-9 % slower, and with another process busy on the machine spinning halves the engine's speed.
``model.options: {spinning: true}`` restores ONNX Runtime's behaviour (the engine alone, spare cores).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from engines.devices import parse_device
from engines.engine import warmup_batch
from engines.errors import EngineError, EngineUnavailableError, ModelError
from engines.metadata import ModelMeta
from engines.registry import OrtOptimization, check_options, resolve_device

_NUMPY_TYPES = {"float32": np.float32, "float16": np.float16, "uint8": np.uint8}


class OnnxRuntimeEngine:
    backend = "onnxruntime"

    def __init__(
        self,
        path: str | Path,
        meta: ModelMeta,
        *,
        device: str = "cpu",
        threads: int | None = None,
        providers: list[str] | None = None,
        optimization: OrtOptimization = "all",
        spinning: bool = False,
    ) -> None:
        import onnxruntime as ort

        check_options(self.backend, {"providers": providers, "optimization": optimization, "spinning": spinning})
        self.meta = meta
        self.device = device = resolve_device(self.backend, device)
        self.path = Path(path)
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
        self.spinning = spinning
        level = "ORT_DISABLE_ALL" if optimization == "none" else f"ORT_ENABLE_{optimization.upper()}"
        options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, level)
        self.providers = providers or self._providers_for(device, ort.get_available_providers())
        try:
            self._session = ort.InferenceSession(str(self.path), sess_options=options, providers=self.providers)
        except Exception as exc:  # ORT raises its own Fail/InvalidGraph/NoSuchFile types
            raise ModelError(f"ONNX Runtime cannot load {self.path}: {_one_line(exc)}") from None
        inputs = self._session.get_inputs()
        outputs = self._session.get_outputs()
        if len(inputs) != 1 or len(outputs) < 1:
            raise ModelError(f"{self.path}: expected one input and one output, found {len(inputs)} and {len(outputs)}")
        self._input_name = inputs[0].name
        names = [o.name for o in outputs]
        if meta.output.name in names:
            self._output_name = meta.output.name
        elif len(names) == 1:  # an older sidecar that names the single output otherwise
            self._output_name = names[0]
        else:
            raise ModelError(f"{self.path}: the sidecar's output.name is {meta.output.name!r} but the graph's outputs "
                             f"are {', '.join(names)}; set output.name (or model.output) to one of them")
        batch_dim = inputs[0].shape[0]
        self.max_batch = 64 if not isinstance(batch_dim, int) else int(batch_dim)
        self._dtype = _NUMPY_TYPES[meta.input.dtype]
        self._check_against_meta(inputs[0])

    @staticmethod
    def _providers_for(device: str, available: list[str]) -> list[str]:
        if parse_device(device).kind == "cpu":
            return ["CPUExecutionProvider"]
        gpu = [p for p in ("TensorrtExecutionProvider", "CUDAExecutionProvider") if p in available]
        if not gpu:
            raise EngineUnavailableError(
                "device 'cuda' was asked for, but this onnxruntime has no CUDA or TensorRT provider "
                f"(available: {', '.join(available)}); install onnxruntime-gpu or use device: cpu"
            )
        return [*gpu, "CPUExecutionProvider"]

    def _check_against_meta(self, node: Any) -> None:
        expected = {"float32": "tensor(float)", "float16": "tensor(float16)", "uint8": "tensor(uint8)"}
        if node.type != expected[self.meta.input.dtype]:
            raise ModelError(
                f"{self.path}: the graph input is {node.type} but the sidecar says {self.meta.input.dtype}; "
                "re-export the model so graph and sidecar agree"
            )
        if len(node.shape) != 4:
            raise ModelError(f"{self.path}: the graph input has rank {len(node.shape)}, expected 4")

    @property
    def input_name(self) -> str:
        return self._input_name

    def infer(self, batch: np.ndarray) -> np.ndarray:
        if batch.dtype != self._dtype:
            batch = batch.astype(self._dtype)
        try:
            result: np.ndarray = self._session.run([self._output_name], {self._input_name: batch})[0]
        except Exception as exc:  # ORT's own error types; its message spans lines: keep all of it
            raise EngineError(f"ONNX Runtime failed to run {self.path.name}: {_one_line(exc)}") from None
        return result

    def warmup(self, iterations: int = 3) -> None:
        batch = warmup_batch(self.meta, 1)
        for _ in range(iterations):
            self.infer(batch)

    def close(self) -> None:
        self._session = None  # type: ignore[assignment]


def _one_line(exc: BaseException) -> str:
    """ONNX Runtime's whole message on one line (its first line alone rarely says what is wrong)."""
    return " ".join(str(exc).split()) or type(exc).__name__
