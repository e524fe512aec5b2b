"""``segstream`` on a foreign ONNX model with no sidecar, and ``segstream inspect``, as a user runs them.

The models are the template-matching ones of ``tests/foreign_models.py``, so the masks written
must equal the painted image's class map exactly.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.foreign_models import Convention, export, painted

ROOT = Path(__file__).resolve().parents[2]
LAYOUT = np.array([[0, 1, 2, 3], [4, 5, 0, 1], [2, 3, 4, 5], [1, 0, 5, 4]])


def segstream(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "segstream", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=180, env=env)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("cli")
    export(where, "seg", Convention(stride=4, aux_first=True))  # quarter-resolution logits, aux output first
    export(where, "mm", Convention(mean=(0.9, 0.1, 0.5), std=(0.05, 0.5, 0.1)))
    export(where, "segformer", Convention(stride=4, size=None))  # SegFormer-like: any size, logits at 1/4
    image, ids = painted(128, 256, LAYOUT[:2])  # 2:1 into the square model: letterboxed
    cv2.imwrite(str(where / "street.png"), image)
    np.save(where / "expected.npy", ids)
    return where


def _mask(folder: Path, masks: str) -> np.ndarray:
    files = sorted((folder / masks).glob("*.png"))
    assert len(files) == 1, files
    return cv2.imread(str(files[0]), cv2.IMREAD_UNCHANGED)


def test_a_foreign_model_runs_right_with_no_sidecar_and_says_what_it_assumed(folder: Path) -> None:
    result = segstream("street.png", "--model", "seg.onnx", "--masks", "masks_a", "--set", "preprocess.resize=letterbox",
                       "--visualize", "none", cwd=folder)
    assert result.returncode == 0, result.stderr
    notes = [line for line in result.stderr.splitlines() if line.startswith("note: ")]
    assert len(notes) == 1, result.stderr
    assert "using output 'out' of aux, out" in notes[0] and "ImageNet mean/std in 0..1 units" in notes[0]
    assert np.array_equal(_mask(folder, "masks_a"), np.load(folder / "expected.npy"))


def test_inspect_says_what_it_reads_and_its_sidecar_reproduces_the_run(folder: Path) -> None:
    result = segstream("inspect", "seg.onnx", cwd=folder)
    assert result.returncode == 0, result.stderr
    assert "graph out aux 1×6×16×16 float32" in result.stdout
    assert "output    out float32: logits, classes on the second axis (NCHW)" in result.stdout
    assert "note: seg.onnx: using output 'out'" in result.stdout
    written = segstream("inspect", "seg.onnx", "--write-sidecar", cwd=folder)
    assert written.returncode == 0, written.stderr
    assert (folder / "seg.yaml").is_file() and "wrote seg.yaml" in written.stdout
    again = segstream("inspect", "seg.onnx", "--write-sidecar", cwd=folder)
    assert again.returncode == 2 and again.stderr.count("\n") == 1 and "--force" in again.stderr
    run = segstream("street.png", "--model", "seg.onnx", "--masks", "masks_b", "--set", "preprocess.resize=letterbox",
                    "--visualize", "none", cwd=folder)
    assert run.returncode == 0, run.stderr
    assert "ImageNet" not in run.stderr  # nothing assumed any more: the sidecar says it all
    assert np.array_equal(_mask(folder, "masks_b"), np.load(folder / "expected.npy"))
    (folder / "seg.yaml").unlink()


def test_a_segformer_style_model_as_docs_model_format_says(folder: Path) -> None:
    (folder / "six.txt").write_text("void\nred\ngreen\nblue\nyellow\nwhite\n")
    result = segstream("street.png", "--model", "segformer.onnx", "--labels", "six.txt", "--set", "preprocess.size=[64,64]",
                       "--set", "preprocess.resize=letterbox", "--masks", "masks_s", "--jsonl", "s.jsonl", cwd=folder)
    assert result.returncode == 0, result.stderr
    assert "512x512" in result.stderr  # the note names the size it assumed when none is given
    assert np.array_equal(_mask(folder, "masks_s"), np.load(folder / "expected.npy"))
    assert '"void"' in (folder / "s.jsonl").read_text()  # the class names from the labels file


def test_mean_and_std_in_0_255_units_need_their_scale(folder: Path) -> None:
    mean, std = "[229.5,25.5,127.5]", "[12.75,127.5,25.5]"
    refused = segstream("street.png", "--model", "mm.onnx", "--masks", "masks_c", "--set", f"model.input.mean={mean}",
                        "--set", f"model.input.std={std}", cwd=folder)
    assert refused.returncode == 2, refused.stderr
    assert refused.stderr.count("\n") == 1 and refused.stderr.startswith("error: ")
    assert "input.scale: 255" in refused.stderr and "Traceback" not in refused.stderr
    assert not (folder / "masks_c").exists()
    ran = segstream("street.png", "--model", "mm.onnx", "--masks", "masks_c", "--set", f"model.input.mean={mean}",
                    "--set", f"model.input.std={std}", "--set", "model.input.scale=255", "--visualize", "none", cwd=folder)
    assert ran.returncode == 0, ran.stderr
    assert np.array_equal(_mask(folder, "masks_c"), np.load(folder / "expected.npy"))


@pytest.mark.parametrize(("args", "needle"), [
    (["--set", "model.output=nope"], "has no such output"),
    (["--labels", "labels.txt"], "lists 2 classes but the graph's output has 6"),
    (["--set", "model.input.normalized_in_graph=true"], "input.scale"),
])
def test_bad_model_settings_exit_2_with_one_line_before_any_frame(folder: Path, args: list[str], needle: str) -> None:
    (folder / "labels.txt").write_text("road\nsky\n")
    result = segstream("street.png", "--model", "seg.onnx", "--masks", "masks_d", *args, cwd=folder)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: "), result.stderr
    assert needle in result.stderr
    assert not (folder / "masks_d").exists()
