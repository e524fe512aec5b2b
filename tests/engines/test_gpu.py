"""Checks that need a CUDA GPU (marked ``gpu``); each skips cleanly where its pieces are missing.

    pytest -m gpu tests/test_gpu.py -ra     # on a GPU machine; every skip says what was missing

They run the real thing the CPU tests fake: cuda-python buffers and graphs, TensorRT builds and
inference (compared with ONNX Runtime), the torch engine in fp16 with CUDA graphs, and the torch
pre/postprocessing on the device (compared with the same functions on the CPU).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engines.errors import EngineUnavailableError
from tests.tiny_models import make_tiny_model

pytestmark = pytest.mark.gpu


def _torch_cuda() -> Any:
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch sees no CUDA GPU")
    return torch


def _cuda() -> Any:
    from engines.backends.cuda_buffers import Cuda

    try:
        cuda = Cuda()
        cuda.open_device(0)
    except EngineUnavailableError as exc:
        pytest.skip(str(exc))
    return cuda


def _tensorrt() -> Any:
    from engines.build import compat as trt_compat

    try:
        return trt_compat.import_tensorrt()
    except EngineUnavailableError as exc:
        pytest.skip(str(exc))


def frames(n: int, h: int = 64, w: int = 128, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


# --- cuda-python --------------------------------------------------------------------------------


def test_cuda_buffers_round_trip_and_graph_replay() -> None:
    from engines.backends.cuda_buffers import (
        DeviceBuffer,
        HostBuffer,
        Stream,
        capture_graph,
        copy_to_device,
        copy_to_host,
    )

    cuda = _cuda()
    name, capability = cuda.device_identity(0)
    assert name and capability.count(".") == 1
    stream, src, dst, dev = Stream(cuda), HostBuffer(cuda, 4096), HostBuffer(cuda, 4096), DeviceBuffer(cuda, 4096)
    try:
        data = np.arange(1024, dtype=np.float32)
        src.view(np.dtype(np.float32), (1024,))[:] = data

        def work() -> None:
            copy_to_device(cuda, dev.ptr, src.ptr, 4096, stream)
            copy_to_host(cuda, dst.ptr, dev.ptr, 4096, stream)

        work()
        stream.synchronize()
        assert np.array_equal(dst.view(np.dtype(np.float32), (1024,)), data)
        graph = capture_graph(cuda, stream, work)
        src.view(np.dtype(np.float32), (1024,))[:] = data * 2  # the replay reads the new contents
        graph.launch(stream)
        stream.synchronize()
        assert np.array_equal(dst.view(np.dtype(np.float32), (1024,)), data * 2)
        graph.close()
    finally:
        for thing in (dev, dst, src, stream):
            thing.close()


# --- TensorRT -----------------------------------------------------------------------------------


@pytest.fixture
def built(tmp_path: Path) -> Any:
    trt = _tensorrt()
    _cuda()
    from engines.build import BuildOptions, build_engine

    def make(name: str, precision: str = "fp32", **model_kw: Any) -> tuple[Path, Path]:
        onnx_path = make_tiny_model(tmp_path, name=name, **model_kw)
        opts = BuildOptions(precision=precision, timing_cache=tmp_path / "timing.cache", max_batch=4)
        result = build_engine(onnx_path, opts, tensorrt_module=trt)
        return onnx_path, result.path

    return make


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_tensorrt_uint8_argmax_engine_matches_onnxruntime(built: Any, precision: str) -> None:
    from engines.backends.onnxruntime import OnnxRuntimeEngine
    from engines.backends.tensorrt import TensorRTEngine
    from engines.metadata import load_for_model

    onnx_path, engine_path = built("tiny", precision)
    engine = TensorRTEngine(engine_path, load_for_model(engine_path), device="cuda")
    reference = OnnxRuntimeEngine(onnx_path, load_for_model(onnx_path))
    for n in (1, 1, 1, 3, 3, 1):  # plain, captured, replayed, new shape ..., back to a captured one
        batch = frames(n, seed=n)
        out = engine.infer(batch)
        agree = (out == reference.infer(batch)).mean()
        assert out.dtype == np.uint8 and out.shape == (n, 64, 128)
        assert agree > (0.999 if precision == "fp32" else 0.97)
    engine.close()


def test_tensorrt_logits_engine_and_zero_copy_torch(built: Any) -> None:
    torch = _torch_cuda()
    from engines.backends.onnxruntime import OnnxRuntimeEngine
    from engines.backends.tensorrt import TensorRTEngine
    from engines.metadata import load_for_model

    onnx_path, engine_path = built("logits", uint8_input=False, argmax=False)
    engine = TensorRTEngine(engine_path, load_for_model(engine_path), device="cuda")
    x = np.random.default_rng(1).standard_normal((2, 3, 64, 128)).astype(np.float32)
    expected = OnnxRuntimeEngine(onnx_path, load_for_model(onnx_path)).infer(x)
    np.testing.assert_allclose(engine.infer(x), expected, rtol=1e-3, atol=1e-3)
    on_device = engine.infer_torch(torch.from_numpy(x).cuda())
    assert on_device.is_cuda
    np.testing.assert_allclose(on_device.cpu().numpy(), expected, rtol=1e-3, atol=1e-3)
    engine.close()


def test_tensorrt_engine_is_reused_from_the_cache(built: Any) -> None:
    _, first = built("tiny")
    from engines.build.cache import check, read_record

    record = read_record(first)
    assert record is not None and check(first, record.key).ok


# --- torch --------------------------------------------------------------------------------------


def test_torch_engine_fp16_channels_last_cuda_graphs() -> None:
    torch = _torch_cuda()
    from engines.backends.torch import TorchEngine
    from tests.engines.test_torch_engine import CLASSMAP, U8_SPEC, TinyNet, meta_for

    meta = meta_for(U8_SPEC, CLASSMAP)
    gpu = TorchEngine("tiny.pt", meta, model=TinyNet(), device="cuda")
    cpu = TorchEngine("tiny.pt", meta, model=TinyNet())
    assert gpu.half and gpu.channels_last
    for seed in range(4):
        batch = frames(2, seed=seed)
        assert (gpu.infer(batch) == cpu.infer(batch)).mean() > 0.98
    assert gpu._graphs  # captured on the second call at this shape
    out = gpu.infer_tensor(torch.from_numpy(frames(2)).cuda())
    assert out.is_cuda and out.dtype == torch.uint8
    gpu.close()


def test_torch_gpu_functions_match_their_cpu_results() -> None:
    torch = _torch_cuda()
    from engines.backends import torch_gpu as tg
    from segcore.labels import CITYSCAPES
    from tests.engines.test_torch_engine import U8_SPEC, natural

    image = natural(720, 1280)
    results = {}
    for device in ("cpu", "cuda"):
        batch = tg.upload(image, device)
        fitted, geometry = tg.fit(batch, 256, 512, "letterbox")
        x = tg.to_input(fitted, U8_SPEC)
        class_map = (x[..., 0] // 16).to(torch.uint8)  # a stand-in class map with structure
        full = tg.restore_class_map(class_map, geometry)
        picture = tg.overlay(batch, full, tg.palette_table(CITYSCAPES.palette, device), 0.5)
        results[device] = [tg.download(t) for t in (fitted, full, picture)]
    for cpu, gpu in zip(results["cpu"], results["cuda"], strict=True):
        assert np.abs(cpu.astype(int) - gpu.astype(int)).max() <= 1

