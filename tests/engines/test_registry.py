"""Backends chosen by name and file suffix, devices resolved, clear errors for what is missing."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import onnxruntime
import pytest

from engines.backends.tensorrt import _device_index
from engines.devices import Device, parse_device
from engines.errors import EngineUnavailableError, ModelError
from engines.registry import BACKENDS, SUFFIXES, backend_for, check_options, open_engine, resolve_device
from segcore.errors import ConfigError


@pytest.mark.parametrize(("name", "backend"), [("m.onnx", "onnxruntime"), ("m.PT", "torch"), ("m.pth", "torch"),
                                               ("m.engine", "tensorrt"), ("m.plan", "tensorrt")])
def test_backend_by_suffix(name: str, backend: str) -> None:
    assert backend_for(name) == backend
    assert set(SUFFIXES.values()) <= set(BACKENDS)


def test_explicit_backend_and_errors() -> None:
    assert backend_for("weights.bin", "onnxruntime") == "onnxruntime"
    with pytest.raises(ModelError, match="suffix .bin"):
        backend_for("weights.bin")
    with pytest.raises(ConfigError, match="unknown backend 'openvino'; choose one of: auto, onnxruntime, torch, tensorrt"):
        backend_for("m.onnx", "openvino")


def test_auto_device_follows_what_this_machine_has() -> None:
    gpu_ort = {"CUDAExecutionProvider", "TensorrtExecutionProvider"} & set(onnxruntime.get_available_providers())
    assert resolve_device("onnxruntime", "auto") == ("cuda" if gpu_ort else "cpu")
    assert resolve_device("tensorrt", "auto") == "cuda"
    assert resolve_device("onnxruntime", "cpu") == "cpu" and resolve_device("torch", "cuda:1") == "cuda:1"


def test_open_engine_reports_the_device_it_chose(tiny_model: Path) -> None:
    engine = open_engine(tiny_model)
    assert engine.backend == "onnxruntime" and engine.device == resolve_device("onnxruntime", "auto")
    engine.close()


def test_missing_and_non_file_models(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        open_engine(tmp_path / "absent.onnx")
    with pytest.raises(ModelError, match="not a file"):
        open_engine(tmp_path)



@pytest.mark.parametrize(("text", "device"), [
    ("auto", Device("auto")), ("cpu", Device("cpu")), ("cuda", Device("cuda")), ("cuda:0", Device("cuda", 0)),
    ("cuda:12", Device("cuda", 12)),
])
def test_one_parser_reads_every_device_name(text: str, device: Device) -> None:
    assert parse_device(text) == device and str(device) == text


@pytest.mark.parametrize("text", ["gpu", "cuda:", "cuda:x", "cpu:0", "auto:1", "CUDA", " cpu", "mps", ""])
def test_every_reader_of_a_device_refuses_a_bad_name_with_one_error(text: str) -> None:
    pytest.importorskip("torch")
    from engines.backends.torch import torch_device

    message = rf"^device is {re.escape(repr(text))}; use auto, cpu, cuda or cuda:N$"
    for read in (parse_device, lambda d: resolve_device("onnxruntime", d), torch_device, _device_index):
        with pytest.raises(ConfigError, match=message):
            read(text)


def test_auto_means_the_same_device_to_the_registry_and_to_each_backend() -> None:
    torch = pytest.importorskip("torch")
    from engines.backends.torch import torch_device

    assert torch_device("auto") == torch.device(resolve_device("torch", "auto"))
    assert torch_device("cpu") == torch.device("cpu")
    assert _device_index("cuda:2") == 2 and _device_index("cuda") == 0
    assert resolve_device("tensorrt", "auto") == "cuda"
    with pytest.raises(EngineUnavailableError, match="TensorRT runs on CUDA devices only"):
        _device_index("cpu")


def _constructor_options(name: str) -> set[str]:
    module_name, _, class_name = BACKENDS[name].target.partition(":")
    cls = getattr(pytest.importorskip(module_name), class_name)
    return set(inspect.signature(cls.__init__).parameters) - {"self", "path", "meta", "device", "threads"}


@pytest.mark.parametrize("name", list(BACKENDS))
def test_each_backend_declares_exactly_the_options_its_class_takes(name: str) -> None:
    entry = BACKENDS[name]
    assert set(entry.options) | set(entry.code_options) == _constructor_options(name)
    assert not set(entry.options) & set(entry.code_options)


def test_options_are_checked_with_the_nearest_name_and_the_expected_type() -> None:
    assert check_options("onnxruntime", {"spinning": True, "optimization": "basic"}) == {
        "spinning": True, "optimization": "basic"}
    with pytest.raises(ConfigError, match=r"^unknown key 'model.options.spining'; did you mean 'spinning'\?$"):
        check_options("onnxruntime", {"spining": True})
    with pytest.raises(ConfigError, match=r"^unknown key 'model.options.zzz'; the torch backend takes: half, "):
        check_options("torch", {"zzz": 1})
    with pytest.raises(ConfigError, match=r"^model.options.max_batch must be an integer, got string 'many'$"):
        check_options("torch", {"max_batch": "many"})
    with pytest.raises(ConfigError, match="allowed values: all, extended, basic, none"):
        check_options("onnxruntime", {"optimization": "most"})
    fake = object()
    assert check_options("tensorrt", {"tensorrt_module": fake})["tensorrt_module"] is fake  # code may pass objects
    with pytest.raises(ConfigError, match="unknown key 'model.options.tensorrt_module'"):
        check_options("tensorrt", {"tensorrt_module": fake}, code=False)  # a config may not
    with pytest.raises(ConfigError, match=r"^file x: unknown key 'model.options.spining'"):
        check_options("onnxruntime", {"spining": True}, where=lambda key: "file x")


def test_open_engine_refuses_a_bad_option_or_device_before_loading_anything(tiny_model: Path) -> None:
    with pytest.raises(ConfigError, match="did you mean 'spinning'"):
        open_engine(tiny_model, spining=True)
    with pytest.raises(ConfigError, match="device is 'gpu'"):
        open_engine(tiny_model, device="gpu")
    engine = open_engine(tiny_model, device="cpu", optimization="basic", spinning=False)
    assert engine.device == "cpu"
    engine.close()


@pytest.mark.parametrize(("backend", "options", "message"), [
    ("torch", {"max_batch": 0}, r"model.options.max_batch is 0; it must be >= 1 and <= 1024"),  # once accepted
    ("torch", {"max_batch": 100_000}, r"model.options.max_batch is 100000"),
    ("tensorrt", {"precision": "fp8"}, r"model.options.precision is 'fp8'; allowed values: fp32, fp16, int8"),
])
def test_option_values_outside_their_range_or_choices_are_config_errors(backend: str, options: dict, message: str) -> None:
    from engines.registry import check_options

    with pytest.raises(ConfigError, match=message):
        check_options(backend, options)
