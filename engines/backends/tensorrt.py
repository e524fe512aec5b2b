"""TensorRT backend: a deserialised plan run with ``execute_async_v3`` on its own stream.

    engine = TensorRTEngine("model.fp16.engine", meta, device="cuda")   # or open_engine(...)
    class_map = engine.infer(batch)            # numpy in, numpy out (uint8 class map or logits)

What happens:

* The plan is deserialised once; failure (another TensorRT version or GPU, a corrupt file) is a
  ModelError that says to rebuild. If the sidecar's ``engine:`` section shows a different
  TensorRT version or compute capability, that is said before even trying.
* Given an ``.onnx`` path instead (``backend: tensorrt`` on an ONNX model), the engine is built
  or reused through ``engines.build`` and the safe engine cache first.
* Buffers are allocated once, for the profile's largest shape: pinned host memory for the input
  and the returned output, device memory for every I/O tensor (TensorRT wants an address for
  each output, even those not returned). A batch smaller than the maximum uses a prefix.
* Each call: copy the batch into pinned memory, ``set_input_shape`` when the shape changed,
  host→device copy, ``execute_async_v3``, device→host copy, synchronise the stream, copy out.
* CUDA graphs (``cuda_graph=True``, the default): the second call at a given input shape captures
  copy-in + enqueue + copy-out into a graph and later calls at that shape replay it (one launch
  instead of dozens). A capture that fails switches graphs off for this engine with one log
  line; execution goes on without them.
* uint8 input and in-engine argmax are handled like any other I/O: an integer output (uint8,
  int32 or int64, with or without a kept class axis of 1) becomes the N×H×W uint8 class map the
  sidecar promises; logits come back in the sidecar's dtype.
* ``infer_torch(tensor)`` runs on torch tensors without a host round trip (zero copy): the
  tensor's device pointer is bound directly and the result is a torch tensor on the same device.

Threads: an engine object belongs to the thread that created it (one execution context, one
stream, CUDA's current device set on that thread). The pipeline creates it in the infer stage's
``start()`` on the infer thread; calling ``infer`` from another thread raises EngineError.
Several engines may share a process, each on its own thread. ``threads`` is accepted for the
registry's signature and ignored (TensorRT uses the GPU).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from engines.backends.cuda_buffers import (
    Cuda,
    CudaGraph,
    DeviceBuffer,
    HostBuffer,
    Stream,
    capture_graph,
    copy_to_device,
    copy_to_host,
)
from engines.build import compat as trt_compat
from engines.build.cache import EngineRecord, read_record
from engines.devices import parse_device
from engines.engine import warmup_batch
from engines.errors import CudaError, EngineError, EngineUnavailableError, ModelError
from engines.metadata import ModelMeta, load_for_model
from engines.registry import resolve_device

if TYPE_CHECKING:
    import tensorrt as trt
    import torch

LOG = logging.getLogger("engines.backends.tensorrt")
MAX_GRAPHS = 8  # captured graphs kept per engine (one per input shape seen)
_INTEGER = ("uint8", "int8", "int32", "int64")


@dataclass(frozen=True)
class TensorInfo:
    name: str
    is_input: bool
    dtype: np.dtype[Any]
    shape: tuple[int, ...]  # -1 where the dimension is dynamic


Shapes = tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]


@dataclass(frozen=True)
class BindingPlan:
    """The engine's I/O, checked against the sidecar: one input, the output returned, the rest."""

    input: TensorInfo
    profile: Shapes  # the input's min/opt/max in optimisation profile 0
    output: TensorInfo
    extra_outputs: tuple[TensorInfo, ...]


def binding_plan(engine: trt.ICudaEngine, meta: ModelMeta, trt_mod: Any) -> BindingPlan:
    """Read the engine's I/O tensors and check them against ``meta``; ModelError on a mismatch."""
    inputs: list[TensorInfo] = []
    outputs: list[TensorInfo] = []
    for i in range(engine.num_io_tensors):
        name = engine.get_tensor_name(i)
        is_input = engine.get_tensor_mode(name) == trt_mod.TensorIOMode.INPUT
        try:
            dtype = trt_compat.numpy_dtype(engine.get_tensor_dtype(name))
        except ValueError as exc:
            raise ModelError(f"engine tensor {name!r}: {exc}") from None
        shape = trt_compat.shape(engine.get_tensor_shape(name))
        (inputs if is_input else outputs).append(TensorInfo(name, is_input, dtype, shape))
    if len(inputs) != 1 or not outputs:
        raise ModelError(f"the engine has {len(inputs)} inputs and {len(outputs)} outputs; one image input is expected")
    inp = inputs[0]
    lo, opt, hi = (trt_compat.shape(dims) for dims in engine.get_tensor_profile_shape(inp.name, 0))
    out = next((o for o in outputs if o.name == meta.output.name), outputs[0])
    _check_input(inp, meta)
    _check_output(out, meta)
    return BindingPlan(inp, (lo, opt, hi), out, tuple(o for o in outputs if o is not out))


def _check_input(inp: TensorInfo, meta: ModelMeta) -> None:
    spec = meta.input
    if inp.dtype.name != spec.dtype:
        raise ModelError(
            f"the engine's input {inp.name!r} is {inp.dtype.name} but the sidecar says {spec.dtype}; "
            "rebuild the engine from the ONNX this sidecar belongs to"
        )
    channel_axis = 3 if spec.layout == "NHWC" else 1
    if len(inp.shape) != 4 or inp.shape[channel_axis] not in (3, -1):
        raise ModelError(f"the engine's input {inp.name!r} has shape {inp.shape}, not a {spec.layout} 3-channel batch")


def _check_output(out: TensorInfo, meta: ModelMeta) -> None:
    spec = meta.output
    if spec.kind == "classmap":
        squeezable = len(out.shape) == 4 and out.shape[1] == 1
        if out.dtype.name not in _INTEGER or not (len(out.shape) == 3 or squeezable):
            raise ModelError(
                f"the sidecar promises a class map but the engine's output {out.name!r} is {out.dtype.name} "
                f"{out.shape}; expected an integer N×H×W tensor"
            )
    else:
        if out.dtype.kind != "f" or len(out.shape) != 4:
            raise ModelError(f"the sidecar promises N×K×H×W logits but the engine's output {out.name!r} is {out.dtype.name} {out.shape}")
        if out.shape[1] not in (-1, meta.num_classes):
            raise ModelError(f"the engine outputs {out.shape[1]} classes; the sidecar lists {meta.num_classes}")


def check_in_profile(shape: tuple[int, ...], profile: Shapes) -> None:
    """ModelError unless ``shape`` lies inside the optimisation profile (min/opt/max)."""
    lo, _, hi = profile
    if len(shape) != len(lo) or any(not a <= s <= b for s, a, b in zip(shape, lo, hi, strict=True)):
        raise ModelError(
            f"batch shape {shape} is outside the engine's profile (min {lo}, max {hi}); resize frames to the "
            "model size, or rebuild with wider --min/--max-batch or --min/--max-size"
        )


def to_meta_output(out: np.ndarray, meta: ModelMeta) -> np.ndarray:
    """The engine's raw output as the sidecar describes it, always a fresh array (buffers are reused)."""
    if meta.output.kind == "classmap":
        if out.ndim == 4:
            out = out[:, 0]
        return out.astype(np.uint8, copy=True)
    return out.astype(meta.output.dtype, copy=True)


def _device_index(device: str) -> int:
    """The GPU index of ``device`` (cuda or cuda:N); TensorRT has no CPU device."""
    parsed = parse_device(device)
    if parsed.kind == "cpu":
        raise EngineUnavailableError(
            f"TensorRT runs on CUDA devices only, not {device!r}; use device: cuda (or cuda:N), "
            "or backend onnxruntime for the CPU"
        )
    return parsed.cuda_index


class TensorRTEngine:
    backend = "tensorrt"

    def __init__(
        self,
        path: str | Path,
        meta: ModelMeta,
        *,
        device: str = "cuda",
        threads: int | None = None,
        cuda_graph: bool = True,
        precision: str | None = None,
        rebuild: bool = True,
        build_options: Any | None = None,
        tensorrt_module: Any | None = None,
        cuda_runtime: Any | None = None,
    ) -> None:
        del threads  # the GPU does the work
        self.meta = meta
        self.device = resolve_device(self.backend, device)
        self.path = Path(path)
        self._closed = False
        self._owner = threading.get_ident()
        index = _device_index(self.device)
        self._trt = tensorrt_module if tensorrt_module is not None else trt_compat.import_tensorrt()
        self._cuda = Cuda(cuda_runtime)
        self._cuda.open_device(index)
        self._buffers: list[HostBuffer | DeviceBuffer] = []
        self._graphs: OrderedDict[tuple[int, ...], CudaGraph] = OrderedDict()
        self._use_graphs = bool(cuda_graph)
        self._runs_at_shape = 0
        self._shape: tuple[int, ...] = ()
        self._out_shape: tuple[int, ...] = ()

        self._from_onnx = self.path.suffix.lower() == ".onnx"
        if self._from_onnx:
            self._onnx_path = self.path
            self.path = self._build(index, precision, rebuild, build_options, force=False)
            self.meta = meta = load_for_model(self.path)  # the engine's sidecar: its profile and precision
        self._check_record(index)
        self._runtime = self._trt.Runtime(self._trt.Logger(self._trt.Logger.WARNING))
        engine = self._deserialize()
        if engine is None and self._from_onnx and rebuild:
            LOG.warning("TensorRT cannot deserialise %s although its key matches; rebuilding it", self.path)
            self.path = self._build(index, precision, rebuild, build_options, force=True)
            engine = self._deserialize()
        if engine is None:
            raise ModelError(
                f"TensorRT {trt_compat.version(self._trt)} cannot deserialise {self.path}: an engine only loads with "
                "the TensorRT version and GPU that built it (or the file is damaged); rebuild it with "
                "'python -m engines.build MODEL.onnx'"
            )
        self._engine: trt.ICudaEngine = engine
        self._plan = binding_plan(engine, meta, self._trt)
        self.max_batch = self._plan.profile[2][0]
        self._context: trt.IExecutionContext = engine.create_execution_context()
        if self._context is None:
            raise EngineUnavailableError(f"TensorRT could not create an execution context for {self.path} (out of GPU memory?)")
        try:
            self._stream = Stream(self._cuda)
            self._allocate()
        except BaseException:
            self.close()
            raise
        LOG.info(
            "TensorRT %s: %s, input %s %s (max %s), output %s %s, scratch %.1f MiB",
            trt_compat.version(self._trt), self.path.name, self._plan.input.name, self._plan.input.dtype,
            self._plan.profile[2], self._plan.output.name, self._plan.output.dtype,
            trt_compat.device_memory_size(engine) / 2**20,
        )

    # -- set-up -----------------------------------------------------------------------------

    def _build(self, index: int, precision: str | None, rebuild: bool, options: Any | None, *, force: bool) -> Path:
        from engines.build import BuildOptions, build_engine

        opts = options if options is not None else BuildOptions(precision=precision, device=index)
        result = build_engine(
            self._onnx_path, opts, rebuild=rebuild, force=force, tensorrt_module=self._trt,
            identity=self._cuda.device_identity,
        )
        return result.path

    def _check_record(self, index: int) -> None:
        """Say plainly when the sidecar shows the engine was built for another TensorRT or GPU."""
        try:
            record: EngineRecord | None = read_record(self.path)
        except ModelError as exc:
            LOG.warning("%s", exc)
            return
        if record is None:
            return
        key, here = record.key, trt_compat.version(self._trt)
        name, capability = self._cuda.device_identity(index)
        hint = "rebuild it on this machine with 'python -m engines.build MODEL.onnx'"
        if key.tensorrt_version != here:
            raise ModelError(f"{self.path} was built with TensorRT {key.tensorrt_version}, this is {here}; {hint}")
        compat = key.flags.get("hardware_compat", "none")
        fits = int(capability.split(".")[0]) >= 8 if compat == "ampere+" else key.compute_capability == capability
        if not fits:
            raise ModelError(
                f"{self.path} was built for compute capability {key.compute_capability} ({key.gpu_name}), "
                f"this GPU is {capability} ({name}); {hint}"
            )
        if compat == "none" and key.gpu_name != name:
            LOG.warning("%s was built on %s, running on %s; rebuild if it fails or runs slowly", self.path, key.gpu_name, name)

    def _deserialize(self) -> trt.ICudaEngine | None:
        try:
            plan = self.path.read_bytes()
        except OSError as exc:
            raise ModelError(f"cannot read engine {self.path}: {exc.strerror}") from None
        try:
            engine: trt.ICudaEngine | None = self._runtime.deserialize_cuda_engine(plan)
        except Exception as exc:  # some versions raise instead of returning None
            LOG.warning("deserialising %s failed: %s", self.path, exc)
            return None
        return engine

    def _allocate(self) -> None:
        plan, ctx = self._plan, self._context
        max_in = plan.profile[2]
        if not ctx.set_input_shape(plan.input.name, max_in):
            raise ModelError(f"TensorRT rejects the profile's own maximum shape {max_in} for {plan.input.name!r}")
        self._host_in = self._alloc(HostBuffer, _nbytes(max_in, plan.input.dtype))
        self._dev: dict[str, DeviceBuffer] = {
            plan.input.name: self._alloc(DeviceBuffer, _nbytes(max_in, plan.input.dtype))
        }
        for out in (plan.output, *plan.extra_outputs):
            shape = trt_compat.shape(ctx.get_tensor_shape(out.name))
            if any(d < 0 for d in shape):
                raise ModelError(f"TensorRT cannot tell the size of output {out.name!r} ({shape}); data-dependent outputs are not supported")
            self._dev[out.name] = self._alloc(DeviceBuffer, _nbytes(shape, out.dtype))
            if out is plan.output:
                self._host_out = self._alloc(HostBuffer, _nbytes(shape, out.dtype))
        self._bind_own_buffers()

    def _alloc(self, kind: type[HostBuffer] | type[DeviceBuffer], nbytes: int) -> Any:
        buffer = kind(self._cuda, nbytes)
        self._buffers.append(buffer)
        return buffer

    def _bind_own_buffers(self) -> None:
        for name, buffer in self._dev.items():
            if not self._context.set_tensor_address(name, buffer.ptr):
                raise ModelError(f"TensorRT rejects the address of {name!r}")

    # -- running ------------------------------------------------------------------------------

    def _check_thread(self) -> None:
        if self._closed:
            raise EngineError(f"TensorRT engine {self.path.name} is closed")
        if threading.get_ident() != self._owner:
            raise EngineError(
                f"TensorRT engine {self.path.name} belongs to the thread that created it; create one engine per "
                "thread (the pipeline creates it in the infer stage's start())"
            )

    def _set_shape(self, shape: tuple[int, ...]) -> None:
        if shape == self._shape:
            return
        check_in_profile(shape, self._plan.profile)
        if not self._context.set_input_shape(self._plan.input.name, shape):
            raise ModelError(f"TensorRT rejects input shape {shape}")
        self._out_shape = trt_compat.shape(self._context.get_tensor_shape(self._plan.output.name))
        self._shape = shape
        self._runs_at_shape = 0

    def _enqueue(self) -> None:
        """Copy in, run, copy out: everything on the stream, nothing waited for."""
        plan, cuda, stream = self._plan, self._cuda, self._stream
        copy_to_device(cuda, self._dev[plan.input.name].ptr, self._host_in.ptr, _nbytes(self._shape, plan.input.dtype), stream)
        if not self._context.execute_async_v3(stream.ptr):
            raise EngineError(f"TensorRT execute_async_v3 failed for {self.path.name} (see TensorRT's log)")
        copy_to_host(cuda, self._host_out.ptr, self._dev[plan.output.name].ptr, _nbytes(self._out_shape, plan.output.dtype), stream)

    def _graph(self) -> CudaGraph | None:
        """The graph for the current shape: captured on the second run at that shape."""
        if not self._use_graphs:
            return None
        graph = self._graphs.get(self._shape)
        if graph is not None:
            self._graphs.move_to_end(self._shape)
            return graph
        if self._runs_at_shape < 1:  # TensorRT must have run once at a shape before capture
            return None
        try:
            graph = capture_graph(self._cuda, self._stream, self._enqueue)
        except (CudaError, EngineError) as exc:
            LOG.warning("CUDA graph capture failed for %s (%s); running without graphs", self.path.name, exc)
            self._use_graphs = False
            return None
        self._graphs[self._shape] = graph
        if len(self._graphs) > MAX_GRAPHS:
            self._graphs.popitem(last=False)[1].close()
        return graph

    def infer(self, batch: np.ndarray) -> np.ndarray:
        self._check_thread()
        plan = self._plan
        batch = np.asarray(batch)
        if batch.dtype != plan.input.dtype:
            if batch.dtype.kind != "f" or plan.input.dtype.kind != "f":
                raise ModelError(f"the engine takes {plan.input.dtype} input, got {batch.dtype}")
            batch = batch.astype(plan.input.dtype)
        self._set_shape(tuple(int(d) for d in batch.shape))
        np.copyto(self._host_in.view(plan.input.dtype, batch.shape), batch)
        graph = self._graph()
        if graph is not None:
            graph.launch(self._stream)
        else:
            self._enqueue()
        self._stream.synchronize()
        self._runs_at_shape += 1
        return to_meta_output(self._host_out.view(plan.output.dtype, self._out_shape), self.meta)

    def infer_torch(self, batch: torch.Tensor) -> torch.Tensor:
        """Zero-copy inference on a torch tensor (CUDA for real use); the result stays on its device.

        The work is enqueued on torch's current stream, so it orders with the torch work around it.
        """
        import torch

        self._check_thread()
        plan = self._plan
        expected = getattr(torch, plan.input.dtype.name)
        if batch.dtype != expected:
            raise ModelError(f"the engine takes {plan.input.dtype} input, got {batch.dtype}")
        batch = batch.contiguous()
        self._set_shape(tuple(int(d) for d in batch.shape))
        out = torch.empty(self._out_shape, dtype=getattr(torch, plan.output.dtype.name), device=batch.device)
        stream = torch.cuda.current_stream(batch.device).cuda_stream if batch.is_cuda else self._stream.ptr
        try:
            self._context.set_tensor_address(plan.input.name, batch.data_ptr())
            self._context.set_tensor_address(plan.output.name, out.data_ptr())
            if not self._context.execute_async_v3(stream):
                raise EngineError(f"TensorRT execute_async_v3 failed for {self.path.name} (see TensorRT's log)")
        finally:
            self._bind_own_buffers()
        if not batch.is_cuda:
            self._stream.synchronize()
        self._runs_at_shape += 1
        if self.meta.output.kind == "classmap":
            return (out[:, 0] if out.ndim == 4 else out).to(torch.uint8)
        return out.to(getattr(torch, self.meta.output.dtype))

    def warmup(self, iterations: int = 3) -> None:
        """Run at the profile's smallest and opt batch (which also captures their graphs)."""
        batches = {self._plan.profile[0][0], self._plan.profile[1][0]}
        for n in sorted(batches):
            batch = warmup_batch(self.meta, n)
            for _ in range(max(iterations, 2 if self._use_graphs else 1)):
                self.infer(batch)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for graph in self._graphs.values():
            graph.close()
        self._graphs.clear()
        stream: Stream | None = getattr(self, "_stream", None)
        if stream is not None:
            stream.synchronize()
            stream.close()
        for buffer in reversed(self._buffers):
            buffer.close()
        self._buffers.clear()
        # Context before engine before runtime: TensorRT frees device memory as each goes.
        del self._context, self._engine, self._runtime


def _nbytes(shape: tuple[int, ...], dtype: np.dtype[Any]) -> int:
    return int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
