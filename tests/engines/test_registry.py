"""Backends chosen by name and file suffix, devices resolved, clear errors for what is missing."""

from __future__ import annotations

from pathlib import Path

import onnxruntime
import pytest

from engines.errors import ModelError
from engines.registry import BACKENDS, SUFFIXES, backend_for, open_engine, resolve_device


@pytest.mark.parametrize(("name", "backend"), [("m.onnx", "onnxruntime"), ("m.PT", "torch"), ("m.pth", "torch"),
                                               ("m.engine", "tensorrt"), ("m.plan", "tensorrt")])
def test_backend_by_suffix(name: str, backend: str) -> None:
    assert backend_for(name) == backend
    assert set(SUFFIXES.values()) <= set(BACKENDS)


def test_explicit_backend_and_errors() -> None:
    assert backend_for("weights.bin", "onnxruntime") == "onnxruntime"
    with pytest.raises(ModelError, match="suffix .bin"):
        backend_for("weights.bin")
    with pytest.raises(ModelError, match="unknown backend 'openvino'"):
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
