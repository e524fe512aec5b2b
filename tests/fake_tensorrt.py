"""FakeTensorRT and FakeCudart: the few TensorRT and cuda-python calls segstream makes, on the CPU.

Nothing here is TensorRT. They exist so that the host-side logic around TensorRT (profile and key
planning, parser-error reporting, precision flags, the binding plan, buffer sizes, shape changes,
CUDA-graph capture and its fallback, dtype handling) is tested on machines without a GPU.

* ``FakeCudart`` hands out real host memory for both "device" and pinned allocations, so pointers
  are real addresses and copies are ``ctypes.memmove``. Work enqueued on a stream runs at once,
  except while the stream is capturing: then it is recorded and runs when the graph is launched.
* ``FakeTensorRT`` "builds" a plan that is a small JSON document naming the ONNX file; its
  execution context runs that ONNX with ONNX Runtime on the bytes at the bound addresses, casts
  the result to the plan's output dtype and writes it to the output address.
"""

from __future__ import annotations

import ctypes
import enum
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort

PLAN_MAGIC = "FAKE-TENSORRT-PLAN"


def fake_gpu_identity(index: int) -> tuple[str, str]:
    """What ``engines.build.builder.gpu_identity`` returns on a GPU, for builds with FakeTensorRT."""
    return ("Fake GPU", "8.7")


# ---------------------------------------------------------------------------------------------
# cuda-python


class FakeCudart:
    """A stand-in for ``cuda.bindings.runtime``: calls return ``(error, *values)``."""

    cudaStreamNonBlocking = 1
    cudaMemcpyKind = SimpleNamespace(cudaMemcpyHostToDevice=1, cudaMemcpyDeviceToHost=2)
    cudaStreamCaptureMode = SimpleNamespace(cudaStreamCaptureModeThreadLocal=1)

    def __init__(self, *, devices: int = 1, name: str = "Fake GPU", capability: tuple[int, int] = (8, 7),
                 fail_capture: bool = False) -> None:
        self.devices = devices
        self.name = name
        self.capability = capability
        self.fail_capture = fail_capture
        self.calls: Counter[str] = Counter()
        self._memory: dict[int, Any] = {}
        self._capturing: dict[int, list[Any]] = {}
        self._next_stream = 100

    # bookkeeping for tests
    @property
    def live_allocations(self) -> int:
        return len(self._memory)

    def enqueue(self, stream: int, work: Any) -> None:
        """Run ``work`` now, or record it when ``stream`` is capturing (used by the fake context)."""
        if stream in self._capturing:
            self._capturing[stream].append(work)
        else:
            work()

    # the API
    def cudaGetErrorString(self, err: int) -> tuple[int, bytes]:
        return (0, f"fake CUDA error {int(err)}".encode())

    def cudaGetDeviceCount(self) -> tuple[int, int]:
        return (0, self.devices) if self.devices else (100, 0)  # 100 is cudaErrorNoDevice

    def cudaSetDevice(self, index: int) -> tuple[int]:
        self.calls["cudaSetDevice"] += 1
        return (0,)

    def cudaGetDeviceProperties(self, index: int) -> tuple[int, Any]:
        major, minor = self.capability
        return (0, SimpleNamespace(name=self.name.encode() + b"\x00" * 8, major=major, minor=minor))

    def cudaStreamCreateWithFlags(self, flags: int) -> tuple[int, int]:
        self._next_stream += 1
        return (0, self._next_stream)

    def cudaStreamDestroy(self, stream: int) -> tuple[int]:
        return (0,)

    def cudaStreamSynchronize(self, stream: int) -> tuple[int]:
        self.calls["cudaStreamSynchronize"] += 1
        return (0,)

    def _alloc(self, nbytes: int) -> tuple[int, int]:
        buffer = ctypes.create_string_buffer(nbytes)
        address = ctypes.addressof(buffer)
        self._memory[address] = buffer
        return (0, address)

    def _free(self, address: int) -> tuple[int]:
        return (0,) if self._memory.pop(int(address), None) is not None else (1,)

    def cudaMallocHost(self, nbytes: int) -> tuple[int, int]:
        return self._alloc(nbytes)

    def cudaMalloc(self, nbytes: int) -> tuple[int, int]:
        return self._alloc(nbytes)

    def cudaFreeHost(self, address: int) -> tuple[int]:
        return self._free(address)

    def cudaFree(self, address: int) -> tuple[int]:
        return self._free(address)

    def cudaMemcpyAsync(self, dst: int, src: int, nbytes: int, kind: int, stream: int) -> tuple[int]:
        self.calls["cudaMemcpyAsync"] += 1
        self.enqueue(stream, lambda: ctypes.memmove(dst, src, nbytes))
        return (0,)

    def cudaStreamBeginCapture(self, stream: int, mode: int) -> tuple[int]:
        if self.fail_capture:
            return (900,)  # cudaErrorStreamCaptureUnsupported
        self._capturing[stream] = []
        return (0,)

    def cudaStreamEndCapture(self, stream: int) -> tuple[int, Any]:
        ops = self._capturing.pop(stream, None)
        return (0, SimpleNamespace(ops=ops)) if ops is not None else (901, None)

    def cudaGraphInstantiate(self, graph: Any, flags: int) -> tuple[int, Any]:
        return (0, SimpleNamespace(ops=list(graph.ops)))

    def cudaGraphLaunch(self, graph_exec: Any, stream: int) -> tuple[int]:
        self.calls["cudaGraphLaunch"] += 1
        for op in graph_exec.ops:
            op()
        return (0,)

    def cudaGraphDestroy(self, graph: Any) -> tuple[int]:
        return (0,)

    def cudaGraphExecDestroy(self, graph_exec: Any) -> tuple[int]:
        return (0,)


# ---------------------------------------------------------------------------------------------
# TensorRT


class DataType(enum.Enum):
    FLOAT = "float32"
    HALF = "float16"
    INT8 = "int8"
    INT32 = "int32"
    INT64 = "int64"
    BOOL = "bool"
    UINT8 = "uint8"
    BF16 = "bfloat16"


_ONNX_TO_TRT = {
    onnx.TensorProto.FLOAT: DataType.FLOAT,
    onnx.TensorProto.FLOAT16: DataType.HALF,
    onnx.TensorProto.UINT8: DataType.UINT8,
    onnx.TensorProto.INT8: DataType.INT8,
    onnx.TensorProto.INT32: DataType.INT32,
    onnx.TensorProto.INT64: DataType.INT64,
}


class Logger:
    INTERNAL_ERROR, ERROR, WARNING, INFO, VERBOSE = range(5)

    def __init__(self, min_severity: int = 2) -> None:
        self.min_severity = min_severity


@dataclass
class ParserError:
    index: int
    name: str
    op: str
    text: str

    def node(self) -> int:
        return self.index

    def node_name(self) -> str:
        return self.name

    def node_operator(self) -> str:
        return self.op

    def desc(self) -> str:
        return self.text


@dataclass
class Tensor:
    name: str
    dtype: DataType
    shape: tuple[Any, ...]  # ints (-1 dynamic); outputs may hold ["in", axis] for a dim that follows the input


@dataclass
class Network:
    flags: int
    inputs: list[Tensor] = field(default_factory=list)
    outputs: list[Tensor] = field(default_factory=list)
    source: str = ""

    @property
    def num_inputs(self) -> int:
        return len(self.inputs)

    def get_input(self, index: int) -> Tensor:
        return self.inputs[index]


class OnnxParser:
    def __init__(self, fake: FakeTensorRT, network: Network, logger: Logger) -> None:
        self.fake = fake
        self.network = network
        self.errors: list[ParserError] = []

    @property
    def num_errors(self) -> int:
        return len(self.errors)

    def get_error(self, index: int) -> ParserError:
        return self.errors[index]

    def parse_from_file(self, path: str) -> bool:
        model = onnx.load(path)
        for i, node in enumerate(model.graph.node):
            if node.op_type in self.fake.unsupported_ops:
                self.errors.append(ParserError(i, node.name, node.op_type, f"no importer for op {node.op_type}"))
        graph_in = model.graph.input[0]
        params = {}
        in_shape = []
        for axis, dim in enumerate(graph_in.type.tensor_type.shape.dim):
            if dim.dim_param:
                params[dim.dim_param] = axis
            in_shape.append(dim.dim_value if dim.dim_value > 0 else -1)
        self.network.inputs = [Tensor(graph_in.name, _ONNX_TO_TRT[graph_in.type.tensor_type.elem_type], tuple(in_shape))]
        for out in model.graph.output:
            dims: list[Any] = []
            for dim in out.type.tensor_type.shape.dim:
                if dim.dim_param in params:
                    dims.append(["in", params[dim.dim_param]])
                else:
                    dims.append(dim.dim_value if dim.dim_value > 0 else -1)
            self.network.outputs.append(Tensor(out.name, _ONNX_TO_TRT[out.type.tensor_type.elem_type], tuple(dims)))
        self.network.source = str(Path(path).resolve())
        return not self.errors


class TimingCache:
    def __init__(self, data: bytes) -> None:
        self.entries = int(data.decode().split(":")[1]) if data else 0

    def combine(self, other: TimingCache, ignore_mismatch: bool) -> bool:
        self.entries = max(self.entries, other.entries)
        return True

    def serialize(self) -> bytes:
        return f"fake-timing-cache:{self.entries}".encode()


class OptimizationProfile:
    def __init__(self) -> None:
        self.shapes: dict[str, tuple[tuple[int, ...], ...]] = {}

    def set_shape(self, name: str, lo: Any, opt: Any, hi: Any) -> None:
        self.shapes[name] = (tuple(lo), tuple(opt), tuple(hi))


class BuilderConfig:
    def __init__(self) -> None:
        self.flags: set[str] = set()
        self.pools: dict[int, int] = {}
        self.builder_optimization_level = 3
        self.hardware_compatibility_level = "NONE"
        self.profiles: list[OptimizationProfile] = []
        self.timing_cache: TimingCache | None = None

    def set_flag(self, flag: str) -> None:
        self.flags.add(flag)

    def set_memory_pool_limit(self, pool: int, size: int) -> None:
        self.pools[pool] = size

    def add_optimization_profile(self, profile: OptimizationProfile) -> int:
        self.profiles.append(profile)
        return len(self.profiles) - 1

    def create_timing_cache(self, data: bytes) -> TimingCache:
        return TimingCache(bytes(data))

    def set_timing_cache(self, cache: TimingCache, ignore_mismatch: bool) -> bool:
        self.timing_cache = cache
        return True

    def get_timing_cache(self) -> TimingCache | None:
        return self.timing_cache


class Builder:
    def __init__(self, fake: FakeTensorRT, logger: Logger) -> None:
        if fake.no_gpu:
            raise TypeError("pybind11::init(): factory function returned nullptr")
        self.fake = fake

    def create_network(self, flags: int = 0) -> Network:
        return Network(flags)

    def create_builder_config(self) -> BuilderConfig:
        return BuilderConfig()

    def create_optimization_profile(self) -> OptimizationProfile:
        return OptimizationProfile()

    def build_serialized_network(self, network: Network, config: BuilderConfig) -> bytes | None:
        self.fake.builds.append({"network_flags": network.flags, "config": config, "source": network.source})
        if config.timing_cache is not None:
            config.timing_cache.entries += 1
        if self.fake.fail_build:
            return None
        (profile,) = config.profiles
        plan = {
            "magic": PLAN_MAGIC,
            "version": self.fake.__version__,
            "onnx": network.source,
            "inputs": [{"name": t.name, "dtype": t.dtype.name, "shape": list(t.shape),
                        "profile": [list(s) for s in profile.shapes[t.name]]} for t in network.inputs],
            "outputs": [{"name": t.name, "dtype": self.fake.output_dtype or t.dtype.name, "shape": list(t.shape)}
                        for t in network.outputs],
            "fp16": "FP16" in config.flags,
        }
        return json.dumps(plan).encode()


class Engine:
    device_memory_size_v2 = 1 << 20

    def __init__(self, fake: FakeTensorRT, plan: dict[str, Any]) -> None:
        self.fake = fake
        self.plan = plan
        self.tensors = {t["name"]: (True, t) for t in plan["inputs"]}
        self.tensors.update({t["name"]: (False, t) for t in plan["outputs"]})
        self.names = [t["name"] for t in plan["inputs"]] + [t["name"] for t in plan["outputs"]]

    @property
    def num_io_tensors(self) -> int:
        return len(self.names)

    def get_tensor_name(self, index: int) -> str:
        return self.names[index]

    def get_tensor_mode(self, name: str) -> str:
        return "INPUT" if self.tensors[name][0] else "OUTPUT"

    def get_tensor_dtype(self, name: str) -> DataType:
        return DataType[self.tensors[name][1]["dtype"]]

    def get_tensor_shape(self, name: str) -> tuple[int, ...]:
        return tuple(-1 if isinstance(d, list) else d for d in self.tensors[name][1]["shape"])

    def get_tensor_profile_shape(self, name: str, profile: int) -> list[tuple[int, ...]]:
        return [tuple(s) for s in self.tensors[name][1]["profile"]]

    def create_execution_context(self) -> ExecutionContext:
        return ExecutionContext(self)


class ExecutionContext:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.fake = engine.fake
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.addresses: dict[str, int] = {}
        self.executions = 0
        plan = engine.plan
        self._input = plan["inputs"][0]
        self._session = ort.InferenceSession(plan["onnx"], providers=["CPUExecutionProvider"])

    def set_input_shape(self, name: str, shape: Any) -> bool:
        shape = tuple(int(d) for d in shape)
        lo, _, hi = self._input["profile"]
        if len(shape) != len(lo) or any(not a <= s <= b for s, a, b in zip(shape, lo, hi, strict=True)):
            return False
        self.shapes[name] = shape
        return True

    def get_tensor_shape(self, name: str) -> tuple[int, ...]:
        is_input, tensor = self.engine.tensors[name]
        if is_input:
            return self.shapes.get(name, tuple(tensor["shape"]))
        in_shape = self.shapes[self._input["name"]]
        return tuple(in_shape[d[1]] if isinstance(d, list) else d for d in tensor["shape"])

    def set_tensor_address(self, name: str, address: int) -> bool:
        self.addresses[name] = int(address)
        return True

    def execute_async_v3(self, stream: int) -> bool:
        if self.fake.fail_execute:
            return False
        missing = [n for n in self.engine.names if n not in self.addresses]
        if missing:
            raise AssertionError(f"no address bound for {missing}")
        # Like a real enqueue: addresses and shapes are taken now, the work runs on the stream.
        name = self._input["name"]
        in_shape = self.shapes[name]
        in_dtype = np.dtype(DataType[self._input["dtype"]].value)
        in_addr = self.addresses[name]
        outs = [(o, self.get_tensor_shape(o["name"]), self.addresses[o["name"]]) for o in self.engine.plan["outputs"]]

        def run() -> None:
            self.executions += 1
            count = int(np.prod(in_shape))
            raw = (ctypes.c_uint8 * (count * in_dtype.itemsize)).from_address(in_addr)
            batch = np.frombuffer(raw, dtype=in_dtype).reshape(in_shape).copy()
            results = self._session.run(None, {name: batch})
            for (tensor, shape, address), value in zip(outs, results, strict=True):
                value = np.ascontiguousarray(value.astype(DataType[tensor["dtype"]].value).reshape(shape))
                ctypes.memmove(address, value.ctypes.data, value.nbytes)

        cudart = self.fake.cudart
        if cudart is None:
            run()
        else:
            cudart.enqueue(int(stream), run)
        return True


class Runtime:
    def __init__(self, fake: FakeTensorRT, logger: Logger) -> None:
        self.fake = fake

    def deserialize_cuda_engine(self, data: bytes) -> Engine | None:
        try:
            plan = json.loads(bytes(data))
        except (ValueError, UnicodeDecodeError):
            return None  # TensorRT logs "Serialization assertion ... failed" and returns None
        if not isinstance(plan, dict) or plan.get("magic") != PLAN_MAGIC or plan.get("version") != self.fake.__version__:
            return None
        return Engine(self.fake, plan)


class FakeTensorRT:
    """A module-like object with the TensorRT names segstream uses (pass it as ``tensorrt_module``).

    ``weak_typing=False`` models TensorRT 11: ``BuilderFlag`` has no ``FP16``.
    """

    Logger = Logger
    TensorIOMode = SimpleNamespace(INPUT="INPUT", OUTPUT="OUTPUT")
    DataType = DataType
    NetworkDefinitionCreationFlag = SimpleNamespace(STRONGLY_TYPED=1)
    MemoryPoolType = SimpleNamespace(WORKSPACE=0)
    HardwareCompatibilityLevel = SimpleNamespace(NONE="NONE", AMPERE_PLUS="AMPERE_PLUS",
                                                 SAME_COMPUTE_CAPABILITY="SAME_COMPUTE_CAPABILITY")

    def __init__(self, *, version: str = "10.13.0", weak_typing: bool = True, cudart: FakeCudart | None = None,
                 unsupported_ops: tuple[str, ...] = (), output_dtype: str | None = None) -> None:
        self.__version__ = version
        self.BuilderFlag = SimpleNamespace(FP16="FP16", INT8="INT8") if weak_typing else SimpleNamespace(DIRECT_IO="DIRECT_IO")
        self.cudart = cudart
        self.unsupported_ops = set(unsupported_ops)
        self.output_dtype = output_dtype  # e.g. "INT64": the plan's output type, as ArgMax without a Cast gives
        self.no_gpu = False
        self.fail_build = False
        self.fail_execute = False
        self.builds: list[dict[str, Any]] = []

    @staticmethod
    def Dims(shape: Any) -> tuple[int, ...]:
        return tuple(int(d) for d in shape)

    def Builder(self, logger: Logger) -> Builder:
        return Builder(self, logger)

    def OnnxParser(self, network: Network, logger: Logger) -> OnnxParser:
        return OnnxParser(self, network, logger)

    def Runtime(self, logger: Logger) -> Runtime:
        return Runtime(self, logger)
