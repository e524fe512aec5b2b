"""TensorRTEngine's host-side logic on the CPU, against FakeTensorRT + FakeCudart.

The fake context runs the plan's ONNX with ONNX Runtime on the bytes at the bound addresses, so
these tests check what the runtime itself does: the binding plan, buffer sizes, profile checks,
shape changes, dtype handling, CUDA-graph capture and fallback, thread ownership and clean-up.
Nothing here runs TensorRT or a GPU.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engines.backends.onnxruntime import OnnxRuntimeEngine
from engines.backends.tensorrt import TensorRTEngine, binding_plan, check_in_profile
from engines.build import BuildOptions, build_engine
from engines.errors import EngineError, EngineUnavailableError, ModelError
from engines.metadata import load_for_model
from engines.registry import open_engine
from tests.fake_tensorrt import FakeCudart, FakeTensorRT
from tests.fake_tensorrt import fake_gpu_identity as identity
from tests.tiny_models import make_tiny_model


class Rig:
    """A fake TensorRT + CUDA pair and an engine file built with them."""

    def __init__(self, onnx_path: Path, *, cudart: FakeCudart | None = None, **fake_kw: Any) -> None:
        self.onnx = onnx_path
        self.cudart = cudart or FakeCudart()
        self.trt = FakeTensorRT(cudart=self.cudart, **fake_kw)
        self.engine_path = build_engine(
            onnx_path, BuildOptions(use_timing_cache=False), tensorrt_module=self.trt, identity=identity
        ).path
        self.meta = load_for_model(self.engine_path)

    def open(self, **kw: Any) -> TensorRTEngine:
        kw.setdefault("tensorrt_module", self.trt)
        kw.setdefault("cuda_runtime", self.cudart)
        return TensorRTEngine(kw.pop("path", self.engine_path), kw.pop("meta", self.meta), device="cuda", **kw)


@pytest.fixture
def argmax_rig(tmp_path: Path) -> Rig:
    return Rig(make_tiny_model(tmp_path, name="tiny"))


@pytest.fixture
def logits_rig(tmp_path: Path) -> Rig:
    return Rig(make_tiny_model(tmp_path, name="logits", uint8_input=False, argmax=False))


def frames(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 64, 128, 3), dtype=np.uint8)


def reference(onnx_path: Path, batch: np.ndarray) -> np.ndarray:
    ort = OnnxRuntimeEngine(onnx_path, load_for_model(onnx_path))
    return ort.infer(batch)


def test_uint8_argmax_engine_matches_onnxruntime(argmax_rig: Rig) -> None:
    engine = argmax_rig.open()
    assert engine.backend == "tensorrt" and engine.max_batch == 4 and engine.device == "cuda"
    batch = frames(2)
    out = engine.infer(batch)
    assert out.dtype == np.uint8 and out.shape == (2, 64, 128)
    assert np.array_equal(out, reference(argmax_rig.onnx, batch))
    engine.close()


@pytest.mark.parametrize("dtype", ["INT64", "INT32", "UINT8"])
def test_integer_argmax_outputs_become_a_uint8_class_map(tmp_path: Path, dtype: str) -> None:
    rig = Rig(make_tiny_model(tmp_path, name="tiny"), output_dtype=dtype)
    engine = rig.open()
    batch = frames(1)
    out = engine.infer(batch)
    assert out.dtype == np.uint8 and np.array_equal(out, reference(rig.onnx, batch))


def test_logits_engine_converts_float_input_and_returns_logits(logits_rig: Rig) -> None:
    engine = logits_rig.open()
    batch = np.random.default_rng(1).standard_normal((3, 3, 64, 128))  # float64: converted to float32
    out = engine.infer(batch)
    assert out.dtype == np.float32 and out.shape == (3, 19, 64, 128)
    np.testing.assert_allclose(out, reference(logits_rig.onnx, batch.astype(np.float32)), rtol=1e-5, atol=1e-5)
    with pytest.raises(ModelError, match="takes float32 input, got uint8"):
        engine.infer(np.zeros((1, 3, 64, 128), np.uint8))


def test_results_are_copies_not_views_of_reused_buffers(argmax_rig: Rig) -> None:
    engine = argmax_rig.open()
    first = engine.infer(frames(1, seed=1))
    kept = first.copy()
    engine.infer(frames(1, seed=2))
    assert np.array_equal(first, kept)


def test_shapes_inside_the_profile_only(argmax_rig: Rig) -> None:
    engine = argmax_rig.open()
    for n in (1, 3, 4, 1):  # shape changes go through set_input_shape each time
        batch = frames(n, seed=n)
        assert np.array_equal(engine.infer(batch), reference(argmax_rig.onnx, batch))
    with pytest.raises(ModelError, match=r"outside the engine's profile \(min \(1, 64, 128, 3\), max \(4, 64, 128, 3\)\)"):
        engine.infer(frames(5))
    with pytest.raises(ModelError, match="outside the engine's profile"):
        engine.infer(np.zeros((1, 32, 64, 3), np.uint8))


def test_check_in_profile() -> None:
    profile = ((1, 3, 32, 32), (1, 3, 64, 64), (4, 3, 128, 128))
    check_in_profile((2, 3, 100, 64), profile)
    for bad in [(0, 3, 64, 64), (1, 3, 256, 64), (1, 3, 64)]:
        with pytest.raises(ModelError):
            check_in_profile(bad, profile)


def test_cuda_graph_is_captured_on_the_second_run_and_replays_new_data(argmax_rig: Rig) -> None:
    engine = argmax_rig.open()
    cuda = argmax_rig.cudart
    outs = [engine.infer(frames(1, seed=s)) for s in range(4)]
    assert cuda.calls["cudaGraphLaunch"] == 3  # run 1 plain, run 2 captured + launched, runs 3-4 replayed
    for s, out in enumerate(outs):  # each replay read that call's frames from the pinned buffer
        assert np.array_equal(out, reference(argmax_rig.onnx, frames(1, seed=s)))
    engine.infer(frames(2))  # a new shape runs plain first, then gets its own graph
    engine.infer(frames(2, seed=9))
    assert cuda.calls["cudaGraphLaunch"] == 4
    engine.infer(frames(1, seed=5))  # back to batch 1: its graph is still there
    assert cuda.calls["cudaGraphLaunch"] == 5


def test_failed_capture_falls_back_to_plain_execution(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    rig = Rig(make_tiny_model(tmp_path, name="tiny"), cudart=FakeCudart(fail_capture=True))
    engine = rig.open()
    with caplog.at_level(logging.WARNING, logger="engines.backends.tensorrt"):
        outs = [engine.infer(frames(1, seed=s)) for s in range(3)]
    assert rig.cudart.calls["cudaGraphLaunch"] == 0
    assert sum("CUDA graph capture failed" in r.getMessage() for r in caplog.records) == 1
    assert all(np.array_equal(o, reference(rig.onnx, frames(1, seed=s))) for s, o in enumerate(outs))


def test_graphs_can_be_switched_off(argmax_rig: Rig) -> None:
    engine = argmax_rig.open(cuda_graph=False)
    for s in range(3):
        engine.infer(frames(1, seed=s))
    assert argmax_rig.cudart.calls["cudaGraphLaunch"] == 0


def test_warmup_captures_batch_one(argmax_rig: Rig) -> None:
    engine = argmax_rig.open()
    engine.warmup()
    assert argmax_rig.cudart.calls["cudaGraphLaunch"] >= 1


def test_undeserialisable_plan_says_rebuild(argmax_rig: Rig) -> None:
    argmax_rig.engine_path.write_bytes(b"\x00garbage")
    with pytest.raises(ModelError, match="cannot deserialise .*rebuild it with 'python -m engines.build"):
        argmax_rig.open()


def test_sidecar_from_another_tensorrt_or_gpu(argmax_rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    newer = FakeTensorRT(version="10.14.0", cudart=argmax_rig.cudart)
    with pytest.raises(ModelError, match="built with TensorRT 10.13.0, this is 10.14.0; rebuild"):
        argmax_rig.open(tensorrt_module=newer)
    with pytest.raises(ModelError, match="compute capability 8.7 .*this GPU is 9.0"):
        argmax_rig.open(cuda_runtime=FakeCudart(capability=(9, 0)))
    with caplog.at_level(logging.WARNING):
        argmax_rig.open(cuda_runtime=FakeCudart(name="Other GPU")).close()
    assert "was built on Fake GPU, running on Other GPU" in caplog.text


def test_hardware_compatible_engine_runs_on_another_ampere_gpu(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    onnx_path = make_tiny_model(tmp_path, name="tiny")
    fake = FakeTensorRT(cudart=FakeCudart())
    path = build_engine(onnx_path, BuildOptions(hardware_compat="ampere+", use_timing_cache=False),
                        tensorrt_module=fake, identity=identity).path
    meta = load_for_model(path)
    with caplog.at_level(logging.WARNING):
        engine = TensorRTEngine(path, meta, tensorrt_module=fake, cuda_runtime=FakeCudart(name="Big GPU", capability=(9, 0)))
    assert "was built on" not in caplog.text
    engine.close()
    with pytest.raises(ModelError, match="compute capability 8.0\\+"):
        TensorRTEngine(path, meta, tensorrt_module=fake, cuda_runtime=FakeCudart(capability=(7, 5)))


def test_binding_plan_checks_the_engine_against_the_sidecar(argmax_rig: Rig, logits_rig: Rig) -> None:
    engine = argmax_rig.trt.Runtime(None).deserialize_cuda_engine(argmax_rig.engine_path.read_bytes())
    plan = binding_plan(engine, argmax_rig.meta, argmax_rig.trt)
    assert (plan.input.name, plan.output.name, plan.extra_outputs) == ("input", "classmap", ())
    assert plan.profile == ((1, 64, 128, 3), (1, 64, 128, 3), (4, 64, 128, 3))
    meta = argmax_rig.meta
    float_in = dataclasses.replace(meta, input=dataclasses.replace(meta.input, dtype="float32", normalized_in_graph=False))
    with pytest.raises(ModelError, match="input 'input' is uint8 but the sidecar says float32"):
        binding_plan(engine, float_in, argmax_rig.trt)
    nchw = dataclasses.replace(meta, input=dataclasses.replace(meta.input, layout="NCHW"))
    with pytest.raises(ModelError, match="not a NCHW 3-channel batch"):
        binding_plan(engine, nchw, argmax_rig.trt)
    logits_engine = logits_rig.trt.Runtime(None).deserialize_cuda_engine(logits_rig.engine_path.read_bytes())
    promises_classmap = dataclasses.replace(logits_rig.meta, output=argmax_rig.meta.output)
    with pytest.raises(ModelError, match="promises a class map"):
        binding_plan(logits_engine, promises_classmap, logits_rig.trt)
    fewer = dataclasses.replace(logits_rig.meta, class_names=("a", "b"), palette=((0, 0, 0), (1, 1, 1)))
    with pytest.raises(ModelError, match="outputs 19 classes; the sidecar lists 2"):
        binding_plan(logits_engine, fewer, logits_rig.trt)


def test_engine_belongs_to_its_thread(argmax_rig: Rig) -> None:
    engine = argmax_rig.open()
    errors: list[BaseException] = []

    def other() -> None:
        try:
            engine.infer(frames(1))
        except BaseException as exc:
            errors.append(exc)

    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert len(errors) == 1 and isinstance(errors[0], EngineError) and "belongs to the thread" in str(errors[0])


def test_close_frees_everything_and_is_idempotent(argmax_rig: Rig) -> None:
    engine = argmax_rig.open()
    engine.infer(frames(1))
    engine.infer(frames(1))
    assert argmax_rig.cudart.live_allocations == 4  # pinned in/out + device in/out
    engine.close()
    engine.close()
    assert argmax_rig.cudart.live_allocations == 0
    with pytest.raises(EngineError, match="closed"):
        engine.infer(frames(1))


def test_devices_that_cannot_run_tensorrt(argmax_rig: Rig) -> None:
    with pytest.raises(EngineUnavailableError, match="CUDA devices only"):
        TensorRTEngine(argmax_rig.engine_path, argmax_rig.meta, device="cpu", tensorrt_module=argmax_rig.trt)
    with pytest.raises(EngineUnavailableError, match="no usable CUDA device"):
        argmax_rig.open(cuda_runtime=FakeCudart(devices=0))
    with pytest.raises(EngineUnavailableError, match="cuda:3 asked for, but this machine has 1"):
        TensorRTEngine(argmax_rig.engine_path, argmax_rig.meta, device="cuda:3",
                       tensorrt_module=argmax_rig.trt, cuda_runtime=argmax_rig.cudart)


def test_registry_opens_engine_files(argmax_rig: Rig) -> None:
    engine = open_engine(argmax_rig.engine_path, device="cuda", tensorrt_module=argmax_rig.trt,
                         cuda_runtime=argmax_rig.cudart)
    assert isinstance(engine, TensorRTEngine) and engine.meta.output.kind == "classmap"
    engine.close()


def test_without_tensorrt_the_registry_says_what_to_install(argmax_rig: Rig) -> None:
    try:
        import tensorrt

        if hasattr(tensorrt, "Builder"):
            pytest.skip("TensorRT is installed here")
    except ImportError:
        pass
    with pytest.raises(EngineUnavailableError, match="TensorRT is not installed.*pip install"):
        open_engine(argmax_rig.engine_path, device="cuda")


def test_onnx_path_builds_through_the_cache(tmp_path: Path) -> None:
    onnx_path = make_tiny_model(tmp_path, name="tiny")
    cudart = FakeCudart()
    fake = FakeTensorRT(cudart=cudart)
    meta = load_for_model(onnx_path)
    opts = BuildOptions(use_timing_cache=False)
    engine = TensorRTEngine(onnx_path, meta, device="cuda", build_options=opts, tensorrt_module=fake, cuda_runtime=cudart)
    assert engine.path == tmp_path / "tiny.fp32.engine" and len(fake.builds) == 1
    batch = frames(2)
    assert np.array_equal(engine.infer(batch), reference(onnx_path, batch))
    engine.close()
    again = TensorRTEngine(onnx_path, meta, device="cuda", build_options=opts, tensorrt_module=fake, cuda_runtime=cudart)
    assert len(fake.builds) == 1  # reused
    again.close()
    with pytest.raises(ModelError, match="rebuilding is disabled"):
        TensorRTEngine(onnx_path, meta, device="cuda", precision="fp16", rebuild=False, tensorrt_module=fake,
                       cuda_runtime=cudart)


def test_infer_torch_is_zero_copy_and_matches(argmax_rig: Rig) -> None:
    torch = pytest.importorskip("torch")
    engine = argmax_rig.open()
    batch = frames(2)
    out = engine.infer_torch(torch.from_numpy(batch))
    assert out.dtype == torch.uint8 and tuple(out.shape) == (2, 64, 128)
    assert np.array_equal(out.numpy(), engine.infer(batch))
    with pytest.raises(ModelError, match="takes uint8 input"):
        engine.infer_torch(torch.zeros((1, 64, 128, 3)))
    # the engine's own buffers are bound again afterwards: graphs and infer() still work
    assert np.array_equal(engine.infer(batch), reference(argmax_rig.onnx, batch))
