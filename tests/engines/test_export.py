"""ONNX export of every registered model: parity at two sizes, the I/O variants, sidecars, CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper

from engines import transforms
from engines.metadata import ModelMeta
from engines.models import create_model, list_models
from engines.models.blocks import calibrate_norm_statistics
from engines.models.deploy import DeployModel
from engines.models.export import ExportOptions, export_onnx
from engines.models.parity import check_parity
from engines.registry import open_engine

REPO = Path(__file__).resolve().parents[2]


def _export(name: str, out: Path, **options: object):  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    net = create_model(name, num_classes=19)
    calibrate_norm_statistics(net, *options.get("input_size", (96, 160)))  # type: ignore[misc]
    return net, export_onnx(
        net, out, name=name, architecture={"name": name, "kwargs": {"num_classes": 19}},
        class_names=[f"c{i}" for i in range(19)], palette=[(i, i, i) for i in range(19)],
        options=ExportOptions(**options),  # type: ignore[arg-type]
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", list_models())
def test_every_model_exports_uint8_argmax_with_parity_at_two_sizes(name: str, tmp_path: Path) -> None:
    _, result = _export(name, tmp_path, input_size=(360, 640), uint8_input=True, argmax=True, dynamic_size=True)
    assert result.parity.passed
    assert [(r.height, r.width) for r in result.parity.results] == [(360, 640), (362, 642)]
    meta = ModelMeta.load(result.sidecar_path)
    assert (meta.input.dtype, meta.input.layout, meta.input.color, meta.input.normalized_in_graph) == ("uint8", "NHWC", "BGR", True)
    assert (meta.output.kind, meta.output.dtype) == ("classmap", "uint8")
    assert meta.provenance["parity"]["passed"] is True
    # The model runs from its sidecar alone, on a frame of another size, through the shared transforms.
    engine = open_engine(result.onnx_path, threads=1)
    frame = np.random.default_rng(3).integers(0, 256, (361, 643, 3), dtype=np.uint8)
    fitted, geometry = transforms.fit(frame, 362, 642)
    class_map = transforms.to_class_maps(engine.infer(transforms.to_input([fitted], meta.input)), meta.output)[0]
    assert class_map.shape == (362, 642) and class_map.dtype == np.uint8 and class_map.max() < 19
    # The parity check compared a map that varies over the image, not a constant one.
    assert len(np.unique(class_map)) >= 2
    assert transforms.restore_class_map(class_map, geometry).shape == (361, 643)


def test_logits_fp32_and_dynamic_batch(tmp_path: Path) -> None:
    net, result = _export("lraspp_mobilenet_v3_small", tmp_path, input_size=(128, 256), dynamic_batch=True)
    meta = result.meta
    assert (meta.input.dtype, meta.input.layout, meta.output.kind) == ("float32", "NCHW", "logits")
    engine = open_engine(result.onnx_path)
    batch = np.random.default_rng(0).standard_normal((3, 3, 128, 256)).astype(np.float32)
    out = engine.infer(batch)
    with torch.no_grad():
        expected = net.eval()(torch.from_numpy(batch)).numpy()
    assert out.shape == (3, 19, 128, 256)
    np.testing.assert_allclose(out, expected, atol=1e-4 * np.abs(expected).max())


def test_fp16_graph_is_half_precision_and_passes_fp16_parity(tmp_path: Path) -> None:
    _, result = _export("lraspp_mobilenet_v3_small", tmp_path, input_size=(128, 256), fp16=True)
    model = onnx.load(str(result.onnx_path))
    weight_types = {init.data_type for init in model.graph.initializer if len(init.dims) == 4}
    assert weight_types == {onnx.TensorProto.FLOAT16}
    assert result.meta.precision == "fp16" and result.meta.input.dtype == "float16"
    assert result.parity.passed and result.parity.results[0].tolerance > 1e-3 * 0  # fp16 tolerance in force


def test_parity_check_catches_a_wrong_graph(tmp_path: Path) -> None:
    net, result = _export("lraspp_mobilenet_v3_small", tmp_path, input_size=(96, 160), uint8_input=True, argmax=True)
    model = onnx.load(str(result.onnx_path))
    target = next(t for t in model.graph.initializer if t.name.endswith("low_classifier.weight"))
    damaged = -numpy_helper.to_array(target)
    target.CopyFrom(numpy_helper.from_array(damaged, target.name))
    bad = tmp_path / "damaged.onnx"
    onnx.save(model, str(bad))
    reference = DeployModel(net.eval(), uint8_input=True, layout="NHWC", argmax=False)
    report = check_parity(reference, bad, result.meta, sizes=[(96, 160)])
    assert not report.passed
    assert "FAILED" in report.summary()


def test_cli_acceptance_command(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "engines.models.export", "--model", "lraspp_mobilenet_v3_small", "--num-classes", "19",
           "--input-size", "362x642", "--uint8-input", "--argmax", "--out", str(tmp_path)]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "parity: PASSED" in proc.stdout
    assert (tmp_path / "lraspp_mobilenet_v3_small.onnx").is_file()
    assert ModelMeta.load(tmp_path / "lraspp_mobilenet_v3_small.yaml").input.height == 362
    # A user's own frame through ONNX Runtime: the random-weights graph is not a constant map.
    engine = open_engine(tmp_path / "lraspp_mobilenet_v3_small.onnx", threads=1)
    frame = np.random.default_rng(5).integers(0, 256, (1, 362, 642, 3), dtype=np.uint8)
    assert len(np.unique(engine.infer(frame))) >= 2


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model", "unet"], "--num-classes"),
        (["--model", "unet", "--num-classes", "3", "--input-size", "8x8"], "too small"),
        (["--checkpoint", "missing.pt"], "does not exist"),
    ],
)
def test_cli_user_errors_exit_2_with_one_line(args: list[str], message: str, tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "engines.models.export", *args, "--out", str(tmp_path)],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
