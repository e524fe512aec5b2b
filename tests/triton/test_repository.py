"""``segstream triton-repo``: the repository's files, its config parsed by Triton's own schema, and
every refusal one line with exit 2 and nothing written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from engines.triton.cli import main
from engines.triton.repository import SIDECAR_PARAMETER


def _config(folder: Path) -> model_config_pb2.ModelConfig:
    return text_format.Parse((folder / "config.pbtxt").read_text(), model_config_pb2.ModelConfig())


def _sidecar(config: model_config_pb2.ModelConfig) -> dict:
    return json.loads(config.parameters[SIDECAR_PARAMETER].string_value)


def test_onnx_repository(tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tiny_model), "--out", str(tmp_path / "repo"), "--name", "seg", "--max-batch", "4",
                 "--max-queue-delay-us", "500", "--instances", "2"]) == 0
    folder = tmp_path / "repo" / "seg"
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")) == [
        "1", "1/model.onnx", "config.pbtxt", "seg.yaml"]
    assert (folder / "1" / "model.onnx").read_bytes() == tiny_model.read_bytes()
    config = _config(folder)
    assert config.platform == "onnxruntime_onnx" and config.name == "seg" and config.max_batch_size == 4
    assert config.dynamic_batching.max_queue_delay_microseconds == 500
    assert [(g.count, g.kind) for g in config.instance_group] == [(2, model_config_pb2.ModelInstanceGroup.KIND_CPU)]
    (inp,), (out,) = config.input, config.output
    assert (inp.name, inp.data_type, list(inp.dims)) == ("input", model_config_pb2.TYPE_UINT8, [64, 128, 3])
    assert (out.name, out.data_type, list(out.dims)) == ("classmap", model_config_pb2.TYPE_UINT8, [64, 128])
    assert _sidecar(config)["class_names"][:2] == ["road", "sidewalk"]
    assert "triton://HOST:8001/seg" in capsys.readouterr().out


def test_python_kind_runs_onnx_runtime_in_the_server(tiny_model: Path, tmp_path: Path) -> None:
    assert main([str(tiny_model), "--out", str(tmp_path), "--kind", "python", "--threads", "2"]) == 0
    folder = tmp_path / "tiny_u8_argmax"
    assert (folder / "1" / "model.py").is_file() and (folder / "1" / "model.onnx").is_file()
    config = _config(folder)
    assert config.backend == "python" and config.parameters["intra_op_threads"].string_value == "2"


def test_tensorrt_kind_for_an_engine(tiny_model: Path, tmp_path: Path) -> None:
    engine = tmp_path / "m.fp16.engine"
    engine.write_bytes(b"a TensorRT plan is copied as it is")  # not a real plan: the writer never opens it
    shutil.copy(tiny_model.with_suffix(".yaml"), engine.with_suffix(".yaml"))
    assert main([str(engine), "--out", str(tmp_path / "repo"), "--name", "trt"]) == 0
    config = _config(tmp_path / "repo" / "trt")
    assert config.platform == "tensorrt_plan"
    assert [g.kind for g in config.instance_group] == [model_config_pb2.ModelInstanceGroup.KIND_GPU]
    assert (tmp_path / "repo" / "trt" / "1" / "model.plan").read_bytes() == engine.read_bytes()


def _refused(capsys: pytest.CaptureFixture[str], argv: list[str], words: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and words in err, err


def test_refusals_leave_nothing(tiny_model: Path, tiny_logits_model: Path, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "repo"
    _refused(capsys, [str(tiny_logits_model), "--out", str(out)], "--uint8-input --argmax")
    _refused(capsys, [str(tmp_path / "none.onnx"), "--out", str(out)], "does not exist")
    _refused(capsys, [str(tiny_model), "--out", str(out), "--kind", "tensorrt"], "needs a TensorRT engine")
    _refused(capsys, [str(tiny_model), "--out", str(out), "--name", "../up"], "cannot name")
    _refused(capsys, [str(tiny_model), "--out", str(out), "--max-batch", "0"], "--max-batch")
    (tmp_path / "file").write_text("x")
    _refused(capsys, [str(tiny_model), "--out", str(tmp_path / "file")], "is a file")
    assert not out.exists()
    assert main([str(tiny_model), "--out", str(out), "--name", "seg"]) == 0
    capsys.readouterr()
    before = (out / "seg" / "config.pbtxt").read_text()
    _refused(capsys, [str(tiny_model), "--out", str(out), "--name", "seg", "--max-batch", "2"], "--replace")
    assert (out / "seg" / "config.pbtxt").read_text() == before
    assert main([str(tiny_model), "--out", str(out), "--name", "seg", "--max-batch", "2", "--replace"]) == 0
    assert _config(out / "seg").max_batch_size == 2
    assert sorted(p.name for p in out.iterdir()) == ["seg"]  # no staging or retired folder left
