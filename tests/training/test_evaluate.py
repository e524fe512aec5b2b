"""The evaluator: the pipeline's preprocessing path, JSON keys, plots, checkpoints, and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from engines.registry import open_engine
from engines.transforms import fit, restore_class_map, to_class_maps, to_input
from segcore.accuracy import ConfusionMatrix
from tests.fixture_datasets import write_cityscapes, write_folder
from training.data.datasets import open_dataset
from training.evaluate import evaluate, main

KEYS = {"miou", "per_class_iou", "pixel_accuracy", "confusion_matrix", "num_images", "model", "data", "timing"}


@pytest.fixture(scope="module")
def cityscapes_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_cityscapes(tmp_path_factory.mktemp("cs"), per_city=3, size=(90, 160))


def _by_hand(model: Path, spec: str) -> ConfusionMatrix:
    """The pipeline's steps spelled out: fit → to_input → infer → to_class_maps → restore → compare."""
    engine = open_engine(model)
    meta = engine.meta
    dataset = open_dataset(spec)
    cm = ConfusionMatrix(meta.num_classes)
    for i in range(len(dataset)):
        sample = dataset[i]
        fitted, geometry = fit(sample.image, meta.input.height, meta.input.width, "stretch")
        output = engine.infer(to_input([fitted], meta.input))
        class_map = to_class_maps(output, meta.output)[0]
        cm.update(restore_class_map(class_map, geometry), sample.labels)
    return cm


@pytest.mark.parametrize("which", ["tiny_model", "tiny_logits_model"])
def test_onnx_evaluation_writes_the_json_keys(which: str, cityscapes_root: Path, tmp_path: Path,
                                             request: pytest.FixtureRequest) -> None:
    model: Path = request.getfixturevalue(which)
    spec = f"cityscapes:{cityscapes_root}"
    out = tmp_path / "eval.json"
    assert main(["--model", str(model), "--data", spec, "--json", str(out), "--batch", "2"]) == 0
    report = json.loads(out.read_text())
    assert set(report) >= KEYS
    assert report["num_images"] == 6 and report["model"] == str(model) and report["data"] == spec
    assert len(report["per_class_iou"]) == 19 and len(report["confusion_matrix"]) == 19
    assert report["per_class_iou"]["train"] is None or isinstance(report["per_class_iou"]["train"], float)
    matrix = np.array(report["confusion_matrix"])
    names = report["class_names"]
    assert report["predicted_absent"] == {names[k]: int(matrix[:, k].sum()) for k in range(19)
                                          if matrix[k].sum() == 0 and matrix[:, k].sum() > 0}
    for name in report["predicted_absent"]:
        assert report["per_class_iou"][name] == 0.0
    for key in ("total_s", "images_per_s", "ms_per_image"):
        assert key in report["timing"]
    # the same numbers as the pipeline's steps done by hand, at the labels' full resolution
    reference = _by_hand(model, spec)
    np.testing.assert_array_equal(np.array(report["confusion_matrix"]), reference.matrix)
    assert np.array(report["confusion_matrix"]).sum() == reference.total == sum(
        int((open_dataset(spec)[i].labels != 255).sum()) for i in range(6))
    if report["miou"] is not None:
        assert report["miou"] == pytest.approx(reference.miou())


def test_plots(tiny_model: Path, cityscapes_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval.json"
    code = main(["--model", str(tiny_model), "--data", f"cityscapes:{cityscapes_root}", "--json", str(out),
                 "--plots", str(tmp_path / "plots"), "--num", "3"])
    assert code == 0
    report = json.loads(out.read_text())
    assert report["num_images"] == 3
    for name in ("per_class_iou.png", "confusion_matrix.png", "examples.png"):
        data = (tmp_path / "plots" / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 2000


def test_colourise_uses_rgb_palette_and_black_for_ignore() -> None:
    from segcore.labels import CITYSCAPES
    from training.plots import colourise

    rgb = colourise(np.array([[0, 10, 255]], np.uint8), CITYSCAPES.palette)
    assert rgb[0, 0].tolist() == [128, 64, 128] and rgb[0, 1].tolist() == [70, 130, 180] and rgb[0, 2].tolist() == [0, 0, 0]


def _torch_by_hand(checkpoint: Path, spec: str, batch: int = 4) -> ConfusionMatrix:
    """A checkpoint's network in plain PyTorch: fit → to_input → forward → argmax → restore → compare."""
    import torch

    from engines.checkpoints import load_checkpoint
    from training.network_io import torch_input_spec

    loaded = load_checkpoint(checkpoint)
    assert loaded.input_size is not None
    height, width = loaded.input_size
    model = loaded.model.eval()
    samples = list(open_dataset(spec))
    cm = ConfusionMatrix(len(loaded.class_names))
    for start in range(0, len(samples), batch):
        chunk = samples[start : start + batch]
        fitted = [fit(s.image, height, width, "stretch") for s in chunk]
        with torch.inference_mode():
            logits = model(torch.from_numpy(to_input([f for f, _ in fitted], torch_input_spec(height, width))))
        for (_, geometry), sample, class_map in zip(fitted, chunk, logits.argmax(dim=1).to(torch.uint8).numpy(),
                                                    strict=True):
            cm.update(restore_class_map(class_map, geometry), sample.labels)
    return cm


def test_checkpoint_evaluation_equals_training_validation(tmp_path: Path, cityscapes_root: Path) -> None:
    """A .pt without a sidecar runs through the registry's PyTorch engine and scores what the
    trainer's validation scored, and what the network gives in plain PyTorch."""
    from training.config import load_config
    from training.train import train

    tiny = Path(__file__).resolve().parents[2] / "configs" / "train" / "tiny.yaml"
    spec = f"cityscapes:{cityscapes_root}:val"
    cfg = load_config(tiny, [f"data.train={spec}", f"data.val={spec}", f"output.dir={tmp_path / 'run'}",
                             "schedule.steps=10", "train.val_every=10", "schedule.warmup_steps=1"])
    result = train(cfg, progress=False)
    assert result.best_checkpoint is not None
    report, *_ = evaluate(result.best_checkpoint, spec)
    assert report["backend"] == "torch" and report["input_size"] == [32, 64]
    assert report["miou"] == pytest.approx(result.best_miou, abs=1e-12)
    np.testing.assert_array_equal(np.array(report["confusion_matrix"]), _torch_by_hand(result.best_checkpoint, spec).matrix)


@pytest.mark.parametrize("args, message", [
    (["--data", "nonsense:x"], "unknown dataset spec"),
    (["--data", "cityscapes:/definitely/missing"], "does not exist"),
    (["--model", "/definitely/missing.onnx"], "does not exist"),
])
def test_bad_inputs_exit_2_with_one_line(args: list[str], message: str, tiny_model: Path, cityscapes_root: Path,
                                         tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = {"--model": str(tiny_model), "--data": f"cityscapes:{cityscapes_root}", "--json": str(tmp_path / "e.json")}
    base.update(dict(zip(args[::2], args[1::2], strict=True)))
    code = main([x for kv in base.items() for x in kv])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1
    assert not (tmp_path / "e.json").exists()


def test_class_count_mismatch_is_refused(tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = write_folder(tmp_path / "f")  # 3 classes vs the model's 19
    code = main(["--model", str(tiny_model), "--data", f"folder:{folder}", "--json", str(tmp_path / "e.json")])
    assert code == 2 and "predicts 19 classes" in capsys.readouterr().err


def test_synthetic_spec(tiny_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "e.json"
    assert main(["--model", str(tiny_model), "--data", "synthetic://street?seeds=1-2&frames=2&size=160x90",
                 "--json", str(out)]) == 0
    assert json.loads(out.read_text())["num_images"] == 4


def test_several_videos_get_their_own_miou_beside_the_pooled_one(tiny_model: Path, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "e.json"
    spec = "synthetic://street?seed=3,4&frames=3&size=160x90&camera=dashcam,fixed"
    assert main(["--model", str(tiny_model), "--data", spec, "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    streams = report["per_stream"]
    assert list(streams) == ["seed3/dashcam", "seed3/fixed", "seed4/dashcam", "seed4/fixed"]
    total = ConfusionMatrix(19)
    for name, result in streams.items():
        seed, camera = name.removeprefix("seed").split("/")
        alone = _by_hand(tiny_model, f"synthetic://street?seed={seed}&frames=3&size=160x90&camera={camera}")
        assert result["miou"] == pytest.approx(alone.miou())
        assert result["num_pixels"] == alone.total
        total.merge(alone)
    assert report["miou"] == pytest.approx(total.miou())  # the pooled figure is unchanged
    assert np.array_equal(report["confusion_matrix"], total.matrix)
    assert "4 videos, each alone: mIoU min" in capsys.readouterr().out


def test_one_video_has_no_per_stream_results(tiny_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "e.json"
    assert main(["--model", str(tiny_model), "--data", "synthetic://street?seed=3&frames=2&size=160x90",
                 "--json", str(out)]) == 0
    assert "per_stream" not in json.loads(out.read_text())


def test_exported_model_scores_what_training_validation_scored(tmp_path: Path, cityscapes_root: Path) -> None:
    """Train → export (uint8 BGR in, argmax in the graph) → evaluate the ONNX through the pipeline's
    path: the same mIoU as the trainer's validation, so training and inference saw the same pixels."""
    pytest.importorskip("onnxscript")
    from training.config import load_config
    from training.train import train

    tiny = Path(__file__).resolve().parents[2] / "configs" / "train" / "tiny.yaml"
    spec = f"cityscapes:{cityscapes_root}:val"
    cfg = load_config(tiny, [f"data.train={spec}", f"data.val={spec}", f"output.dir={tmp_path / 'run'}",
                             "schedule.steps=10", "train.val_every=10", "schedule.warmup_steps=1",
                             "output.export_onnx=true", "output.export_name=tiny_unet"])
    result = train(cfg, progress=False)
    assert result.onnx == tmp_path / "run" / "tiny_unet.onnx" and result.onnx.with_suffix(".yaml").is_file()
    report, *_ = evaluate(result.onnx, spec)
    assert report["backend"] == "onnxruntime"
    assert report["miou"] == pytest.approx(result.best_miou, abs=2e-3)
