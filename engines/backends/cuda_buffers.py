"""Pinned host buffers, device buffers, a stream and CUDA-graph capture, on cuda-python alone.

cuda-python (``cuda.bindings.runtime``; ``cuda.cudart`` in releases before 12.6) is the buffer
library because it needs no torch and shares the CUDA runtime's primary context with torch and
TensorRT; pycuda creates its own context, which clashes with torch's. Every call returns
``(error, *values)``; ``Cuda.call`` turns a non-zero error into a ``CudaError`` naming the call.

The runtime module is passed in (``Cuda(rt)``) so the host-side logic can be tested on a machine
without a GPU against a fake with the same few functions (``tests/fake_tensorrt.FakeCudart``).

Ownership: buffers and streams are freed by ``close()`` (idempotent); numpy views handed out by
``HostBuffer.view`` are invalid after their buffer is closed, so callers copy results out.
"""

from __future__ import annotations

import ctypes
import importlib
import logging
from collections.abc import Callable
from typing import Any

import numpy as np

from engines.errors import CudaError, EngineUnavailableError

LOG = logging.getLogger("engines.backends.cuda_buffers")

INSTALL_HINT = (
    "pip install cuda-python (cuda-python 12.x for CUDA 12 drivers such as JetPack 6, 13.x for CUDA 13)"
)



def load_cudart() -> Any:
    """The cuda-python runtime module, or EngineUnavailableError saying what to install."""
    for name in ("cuda.bindings.runtime", "cuda.cudart"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise EngineUnavailableError(f"cuda-python is not installed; {INSTALL_HINT}")


class Cuda:
    """A checked view of a cudart module: ``call("cudaMalloc", n)`` returns the value or raises."""

    def __init__(self, rt: Any | None = None) -> None:
        self.rt = rt if rt is not None else load_cudart()

    def call(self, name: str, *args: Any) -> Any:
        result = getattr(self.rt, name)(*args)
        err, values = (result[0], result[1:]) if isinstance(result, tuple) else (result, ())
        if int(err) != 0:
            raise CudaError(f"{name} failed: {self.error_text(err)}")
        if not values:
            return None
        return values[0] if len(values) == 1 else values

    def error_text(self, err: Any) -> str:
        try:
            text = self.rt.cudaGetErrorString(err)
            text = text[1] if isinstance(text, tuple) else text
            return text.decode() if isinstance(text, bytes) else str(text)
        except Exception:  # a broken driver can fail to describe its own error
            return str(err)

    def open_device(self, index: int) -> None:
        """Make ``index`` current on this thread; EngineUnavailableError when there is no such GPU."""
        result = self.rt.cudaGetDeviceCount()
        err, count = result[0], (result[1] if len(result) > 1 else 0)
        if int(err) != 0 or not count:
            why = self.error_text(err) if int(err) != 0 else "no CUDA device found"
            raise EngineUnavailableError(f"no usable CUDA device ({why}); use device: cpu or backend onnxruntime")
        if not 0 <= index < int(count):
            raise EngineUnavailableError(f"device cuda:{index} asked for, but this machine has {count} CUDA device(s)")
        self.call("cudaSetDevice", index)

    def device_identity(self, index: int) -> tuple[str, str]:
        """(GPU name, compute capability "major.minor") of device ``index``."""
        prop = self.call("cudaGetDeviceProperties", index)
        name = prop.name.decode(errors="replace") if isinstance(prop.name, bytes) else str(prop.name)
        return name.rstrip("\x00").strip(), f"{int(prop.major)}.{int(prop.minor)}"


class Stream:
    """A non-blocking CUDA stream (it does not synchronise with the legacy default stream)."""

    def __init__(self, cuda: Cuda) -> None:
        self._cuda = cuda
        self.handle: Any = cuda.call("cudaStreamCreateWithFlags", cuda.rt.cudaStreamNonBlocking)

    @property
    def ptr(self) -> int:
        return int(self.handle)

    def synchronize(self) -> None:
        self._cuda.call("cudaStreamSynchronize", self.handle)

    def close(self) -> None:
        if self.handle is not None:
            handle, self.handle = self.handle, None
            self._cuda.call("cudaStreamDestroy", handle)


class HostBuffer:
    """Page-locked host memory: the only kind a copy engine can read asynchronously."""

    def __init__(self, cuda: Cuda, nbytes: int) -> None:
        self._cuda = cuda
        self.nbytes = max(1, int(nbytes))
        self.ptr: int = int(cuda.call("cudaMallocHost", self.nbytes))
        self._raw = (ctypes.c_uint8 * self.nbytes).from_address(self.ptr)

    def view(self, dtype: np.dtype[Any], shape: tuple[int, ...]) -> np.ndarray:
        """A numpy array over the first ``prod(shape)`` elements (no copy)."""
        count = int(np.prod(shape, dtype=np.int64))
        if count * dtype.itemsize > self.nbytes:
            raise ValueError(f"shape {shape} of {dtype} needs {count * dtype.itemsize} bytes, buffer has {self.nbytes}")
        return np.frombuffer(memoryview(self._raw), dtype=dtype, count=count).reshape(shape)

    def close(self) -> None:
        if self.ptr:
            ptr, self.ptr = self.ptr, 0
            self._raw = None  # type: ignore[assignment]
            self._cuda.call("cudaFreeHost", ptr)


class DeviceBuffer:
    def __init__(self, cuda: Cuda, nbytes: int) -> None:
        self._cuda = cuda
        self.nbytes = max(1, int(nbytes))
        self.ptr: int = int(cuda.call("cudaMalloc", self.nbytes))

    def close(self) -> None:
        if self.ptr:
            ptr, self.ptr = self.ptr, 0
            self._cuda.call("cudaFree", ptr)


def copy_to_device(cuda: Cuda, dst: int, src: int, nbytes: int, stream: Stream) -> None:
    kind = cuda.rt.cudaMemcpyKind.cudaMemcpyHostToDevice
    cuda.call("cudaMemcpyAsync", dst, src, nbytes, kind, stream.handle)


def copy_to_host(cuda: Cuda, dst: int, src: int, nbytes: int, stream: Stream) -> None:
    kind = cuda.rt.cudaMemcpyKind.cudaMemcpyDeviceToHost
    cuda.call("cudaMemcpyAsync", dst, src, nbytes, kind, stream.handle)


class CudaGraph:
    """An instantiated CUDA graph: the captured work replays with one launch."""

    def __init__(self, cuda: Cuda, graph: Any, graph_exec: Any) -> None:
        self._cuda = cuda
        self._graph = graph
        self._exec = graph_exec

    def launch(self, stream: Stream) -> None:
        self._cuda.call("cudaGraphLaunch", self._exec, stream.handle)

    def close(self) -> None:
        if self._exec is not None:
            graph_exec, graph, self._exec, self._graph = self._exec, self._graph, None, None
            self._cuda.call("cudaGraphExecDestroy", graph_exec)
            self._cuda.call("cudaGraphDestroy", graph)


def capture_graph(cuda: Cuda, stream: Stream, work: Callable[[], None]) -> CudaGraph:
    """Capture what ``work()`` enqueues on ``stream`` into a graph (thread-local capture mode).

    Nothing in ``work`` runs during capture; launch the graph to run it. Raises CudaError (or what
    ``work`` raised) with the stream out of capture mode again, so the caller can fall back.
    """
    mode = cuda.rt.cudaStreamCaptureMode.cudaStreamCaptureModeThreadLocal
    cuda.call("cudaStreamBeginCapture", stream.handle, mode)
    try:
        work()
    except BaseException:
        _abandon_capture(cuda, stream)
        raise
    graph = cuda.call("cudaStreamEndCapture", stream.handle)
    try:
        graph_exec = cuda.call("cudaGraphInstantiate", graph, 0)
    except CudaError:
        cuda.call("cudaGraphDestroy", graph)
        raise
    return CudaGraph(cuda, graph, graph_exec)


def _abandon_capture(cuda: Cuda, stream: Stream) -> None:
    result = cuda.rt.cudaStreamEndCapture(stream.handle)
    graph = result[1] if isinstance(result, tuple) and len(result) > 1 else None
    if graph is not None and int(result[0]) == 0:
        cuda.rt.cudaGraphDestroy(graph)
