"""Bundled model files. The default model is trained here on synthetic street scenes (MODEL_CARD.md)."""

from __future__ import annotations

from pathlib import Path

WEIGHTS_DIR = Path(__file__).resolve().parent
DEFAULT_MODEL = WEIGHTS_DIR / "lraspp_mbv3_street.onnx"


def default_model_path() -> Path:
    return DEFAULT_MODEL
