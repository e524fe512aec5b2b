"""PyTorch backend: a ``.pt`` checkpoint (or a module handed in) run eagerly on the CPU or a GPU.

    engine = TorchEngine("model.pt", meta, device="cuda")     # or open_engine("model.pt", ...)

* ``.pt`` files are segstream checkpoints (``{"model": state_dict, "architecture": {"name",
  "kwargs"}, ...}``) loaded with ``torch.load(weights_only=True)`` by ``engines.checkpoints``;
  a ``model=`` option takes an ``nn.Module`` instead (N×3×H×W normalised RGB → N×K×H×W logits).
* The network is wrapped in ``engines.models.deploy.DeployModel`` exactly as the sidecar says:
  uint8 BGR frames in (normalised in the graph) or normalised float NCHW RGB; a uint8 class map
  (argmax inside) or logits out. So its I/O matches the sidecar like an exported ONNX does.
* On CUDA: fp16 weights (``half``, default on) and channels-last memory (``channels_last``,
  default on); CUDA graphs per input shape (``cuda_graph``, default on: the second call at a
  shape captures, later calls replay), or ``compile=True`` for ``torch.compile(mode=
  "reduce-overhead")`` instead (off by default: compiling takes a while). On the CPU all of these
  are off by default; ``threads`` sets torch's intra-op threads (a process-wide setting).
* ``infer(numpy)`` returns numpy; ``infer_tensor(tensor)`` keeps everything on the device for a
  GPU pipeline (see ``engines.backends.torch_gpu``).

Like every engine it belongs to the thread that created it.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from engines.engine import warmup_batch
from engines.errors import EngineError, EngineUnavailableError, ModelError
from engines.metadata import ModelMeta
from engines.registry import resolve_device
from segcore.errors import ConfigError

LOG = logging.getLogger("engines.backends.torch")
MAX_GRAPHS = 8
DEFAULT_MAX_BATCH = 64


def torch_device(device: str) -> torch.device:
    """``device`` (auto, cpu, cuda or cuda:N; ``engines.registry.resolve_device``) as a torch device.

    ``ConfigError`` for another name, ``EngineUnavailableError`` when this torch has no such device.
    """
    dev = torch.device(resolve_device("torch", device))
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise EngineUnavailableError(
                f"device {device!r} asked for, but this torch ({torch.__version__}) sees no CUDA GPU; "
                "install a CUDA build of torch on a GPU machine, or use device: cpu"
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise EngineUnavailableError(f"device {device!r} asked for, but torch sees {torch.cuda.device_count()} GPU(s)")
    return dev


def deploy(net: nn.Module, meta: ModelMeta) -> nn.Module:
    """Wrap ``net`` so that its I/O is exactly what ``meta`` describes."""
    from engines.models.deploy import DeployModel

    spec = meta.input
    if spec.dtype == "uint8" and spec.color != "BGR":
        raise ModelError("TorchEngine takes uint8 frames in BGR order (as decoded); the sidecar says RGB")
    if spec.dtype != "uint8" and (spec.layout != "NCHW" or spec.color != "RGB"):
        raise ModelError(
            f"TorchEngine takes float input as normalised NCHW RGB; the sidecar says {spec.layout} {spec.color}"
        )
    return DeployModel(
        net,
        uint8_input=spec.dtype == "uint8",
        layout=spec.layout,
        argmax=meta.output.kind == "classmap",
        mean=spec.mean,
        std=spec.std,
    )


def load_network(path: Path, meta: ModelMeta) -> nn.Module:
    """The raw network of a segstream ``.pt`` checkpoint, checked against the sidecar's classes."""
    from engines.checkpoints import load_checkpoint

    loaded = load_checkpoint(path)
    classes = int(loaded.architecture.get("kwargs", {}).get("num_classes", meta.num_classes))
    if classes != meta.num_classes:
        raise ModelError(f"{path} predicts {classes} classes but its sidecar lists {meta.num_classes}")
    return loaded.model


class _Graph:
    """One captured CUDA graph: static input → static output, replayed per call."""

    def __init__(self, module: Callable[[torch.Tensor], torch.Tensor], example: torch.Tensor) -> None:
        self.input = example.clone()
        side = torch.cuda.Stream(device=example.device)  # type: ignore[no-untyped-call]
        side.wait_stream(torch.cuda.current_stream(example.device))
        with torch.cuda.stream(side):
            for _ in range(2):  # warm up kernels and the allocator off the default stream
                module(self.input)
        torch.cuda.current_stream(example.device).wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        # thread_local: only this thread is held to capture rules, so a device-path pipeline's other
        # threads (uploads, downloads, syncs on the default stream) neither break nor fail the capture
        with torch.cuda.graph(self.graph, capture_error_mode="thread_local"):
            self.output: torch.Tensor = module(self.input)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.input.copy_(x)
        self.graph.replay()
        return self.output


class TorchEngine:
    backend = "torch"

    def __init__(
        self,
        path: str | Path,
        meta: ModelMeta,
        *,
        device: str = "cpu",
        threads: int | None = None,
        model: nn.Module | None = None,
        half: bool | None = None,
        channels_last: bool | None = None,
        cuda_graph: bool | None = None,
        compile: bool = False,
        max_batch: int = DEFAULT_MAX_BATCH,
    ) -> None:
        self.meta = meta
        self.path = Path(path)
        self._device = torch_device(device)
        self.device = str(self._device)
        self.max_batch = int(max_batch)
        self._owner = threading.get_ident()
        self._closed = False
        on_cuda = self._device.type == "cuda"
        self.half = on_cuda if half is None else bool(half)
        self.channels_last = on_cuda if channels_last is None else bool(channels_last)
        use_graphs = (on_cuda and not compile) if cuda_graph is None else bool(cuda_graph)
        if self.half and not on_cuda:
            raise ConfigError("half precision needs device cuda; on the CPU use half: false")
        if meta.input.dtype == "float16" and not self.half:
            raise ConfigError("the sidecar's input is float16, which needs half: true (on a CUDA device)")
        if use_graphs and not on_cuda:
            raise ConfigError("cuda_graph needs device cuda")
        if use_graphs and compile:
            raise ConfigError("choose cuda_graph or compile (reduce-overhead mode captures graphs itself), not both")
        if threads and not on_cuda:
            torch.set_num_threads(int(threads))

        net = model if model is not None else load_network(self.path, meta)
        module = deploy(net, meta).eval().to(self._device)
        if self.half:
            module = module.half()
        if self.channels_last:
            module = module.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self._module: Callable[[torch.Tensor], torch.Tensor] = module
        if compile:
            self._module = torch.compile(module, mode="reduce-overhead" if on_cuda else "default", dynamic=False)
        self._use_graphs = use_graphs
        self._graphs: OrderedDict[tuple[tuple[int, ...], torch.dtype], _Graph] = OrderedDict()
        self._seen: set[tuple[tuple[int, ...], torch.dtype]] = set()
        self._in_dtype = {"uint8": torch.uint8, "float16": torch.float16}.get(
            meta.input.dtype, torch.float16 if self.half else torch.float32
        )
        self._channel_axis = 3 if meta.input.layout == "NHWC" else 1
        LOG.info("torch %s on %s: half=%s channels_last=%s cuda_graph=%s compile=%s", torch.__version__,
                 self.device, self.half, self.channels_last, use_graphs, compile)

    def _check(self, shape: tuple[int, ...], dtype: torch.dtype | np.dtype[Any]) -> None:
        if self._closed:
            raise EngineError(f"torch engine {self.path.name} is closed")
        if threading.get_ident() != self._owner:
            raise EngineError(f"torch engine {self.path.name} belongs to the thread that created it")
        if len(shape) != 4 or shape[self._channel_axis] != 3:
            raise ModelError(f"batch shape {shape} is not a {self.meta.input.layout} 3-channel batch")
        if not 1 <= shape[0] <= self.max_batch:
            raise ModelError(f"batch of {shape[0]} frames; this engine takes 1 to {self.max_batch}")
        is_uint8 = dtype in (torch.uint8, np.uint8)
        if is_uint8 != (self.meta.input.dtype == "uint8"):
            raise ModelError(f"the model takes {self.meta.input.dtype} input, got {dtype}")

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self._in_dtype)
        if self.channels_last and self._channel_axis == 1:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            if not self._use_graphs:
                return self._module(x)
            key = (tuple(x.shape), x.dtype)
            graph = self._graphs.get(key)
            if graph is None and key in self._seen:
                try:
                    graph = self._graphs[key] = _Graph(self._module, x)
                except RuntimeError as exc:
                    LOG.warning("CUDA graph capture failed (%s); running without graphs", exc)
                    self._use_graphs = False
                    return self._module(x)
                if len(self._graphs) > MAX_GRAPHS:
                    self._graphs.popitem(last=False)
            self._seen.add(key)
            if graph is None:
                return self._module(x)
            self._graphs.move_to_end(key)
            return graph(x)

    def _finish(self, out: torch.Tensor) -> torch.Tensor:
        if self.meta.output.kind == "classmap":
            return out.to(torch.uint8)
        return out.to(getattr(torch, self.meta.output.dtype))

    def infer(self, batch: np.ndarray) -> np.ndarray:
        batch = np.asarray(batch)
        self._check(batch.shape, batch.dtype)
        x = torch.from_numpy(np.ascontiguousarray(batch))
        if self._device.type == "cuda":
            x = x.pin_memory().to(self._device, non_blocking=True)
        return self._finish(self._run(x)).cpu().numpy()

    def infer_tensor(self, batch: torch.Tensor) -> torch.Tensor:
        """Device tensor in, device tensor out (a fresh tensor: graph outputs are copied)."""
        self._check(tuple(batch.shape), batch.dtype)
        out = self._finish(self._run(batch.to(self._device)))
        return out.clone() if self._use_graphs else out

    def warmup(self, iterations: int = 3) -> None:
        batch = warmup_batch(self.meta, 1)
        for _ in range(max(iterations, 2 if self._use_graphs else 1)):
            self.infer(batch)
        if self._device.type == "cuda":
            torch.cuda.synchronize(self._device)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._graphs.clear()
        del self._module
        if self._device.type == "cuda":
            torch.cuda.empty_cache()
