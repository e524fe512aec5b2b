"""The public API of ``pipeline`` is a decision: a curated, sorted ``__all__``; no torch at import."""

from __future__ import annotations

import importlib
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pipeline

ROOT = Path(__file__).resolve().parent.parent


def test_all_is_sorted_unique_and_importable() -> None:
    assert pipeline.__all__ == sorted(pipeline.__all__)
    assert len(set(pipeline.__all__)) == len(pipeline.__all__)
    for name in pipeline.__all__:
        assert getattr(pipeline, name) is not None
    public = {n for n in vars(pipeline) if not n.startswith("_") and not isinstance(getattr(pipeline, n), type(os))}
    assert public == set(pipeline.__all__), "a public name is missing from __all__, or __all__ lists too much"


def test_embedding_names_are_there() -> None:
    for name in ("Pipeline", "Segmenter", "PushSource", "CallbackSink", "LatestSink", "NullSink", "load_config",
                 "PipelineError", "ConfigError"):
        assert name in pipeline.__all__


def test_importing_pipeline_imports_no_torch_or_tensorrt() -> None:
    modules = [m.name for m in pkgutil.walk_packages(pipeline.__path__, "pipeline.")]
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except ImportError:\n"
        "        pass\n"
        "import run_stream\n"
        "bad = sorted(m for m in ('torch', 'tensorrt', 'torchvision') if m in sys.modules)\n"
        "assert not bad, bad\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    plain = subprocess.run(
        [sys.executable, "-c", "import pipeline, sys; assert 'torch' not in sys.modules"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=60,
    )
    assert plain.returncode == 0, plain.stderr


def test_modules_import_cleanly() -> None:
    for name in ("pipeline.pipeline", "pipeline.cli", "pipeline.config", "pipeline.segmenter", "pipeline.metrics"):
        importlib.import_module(name)
