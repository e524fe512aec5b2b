"""The bundled ONNX model's weights, loaded back into PyTorch, give ONNX Runtime's class maps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from engines.backends.onnxruntime import OnnxRuntimeEngine
from engines.backends.torch import TorchEngine
from engines.errors import ModelError
from engines.metadata import load_for_model
from engines.models.onnx_weights import network_from_onnx, write_checkpoint
from engines.weights import default_model_path
from streetsim import StreetScene, SyntheticSpec


def test_bundled_model_runs_in_torch_as_in_onnxruntime(tmp_path: Path) -> None:
    onnx_path = default_model_path()
    meta = load_for_model(onnx_path)
    checkpoint = write_checkpoint(network_from_onnx(onnx_path, meta), meta, tmp_path / "street.pt")
    engine = TorchEngine(checkpoint, load_for_model(checkpoint))
    scene = StreetScene(SyntheticSpec.from_uri("synthetic://street?seed=3&frames=30&size=512x256"))
    batch = np.stack([scene.render(i)[0] for i in (0, 20)])
    ours, reference = engine.infer(batch), OnnxRuntimeEngine(onnx_path, meta).infer(batch)
    assert (ours == reference).mean() >= 0.999
    assert len(np.unique(reference)) >= 5  # a real street scene, not one class everywhere


def test_a_weight_the_file_lacks_is_refused(tmp_path: Path) -> None:
    onnx_path = default_model_path()
    model = onnx.load(str(onnx_path))
    dropped = next(i for i in model.graph.initializer if i.name.endswith("high_classifier.weight"))
    model.graph.initializer.remove(dropped)
    broken = tmp_path / "broken.onnx"
    onnx.save(model, str(broken))
    with pytest.raises(ModelError, match="no weights for classifier.high_classifier.weight"):
        network_from_onnx(broken, load_for_model(onnx_path))
