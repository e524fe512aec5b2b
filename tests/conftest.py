from __future__ import annotations

from pathlib import Path

import pytest

from tests.tiny_models import make_tiny_model


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real ONNX model (uint8 BGR NHWC in, uint8 class map out, 19 classes, 64×128, dynamic batch)."""
    return make_tiny_model(tmp_path_factory.mktemp("models"), name="tiny_u8_argmax")


@pytest.fixture(scope="session")
def tiny_logits_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real ONNX model with float NCHW RGB input and N×19×H×W logits out."""
    return make_tiny_model(tmp_path_factory.mktemp("models"), name="tiny_logits", uint8_input=False, argmax=False)
