"""Each package's public API is a decision: a curated, sorted ``__all__`` that names exactly what
the package exposes; every module imports; and the light packages stay light at import time."""

from __future__ import annotations

import importlib
import os
import pkgutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CURATED = ("pipeline", "engines", "streetsim", "serve")
PACKAGES = ("segcore", "streetsim", "engines", "pipeline", "training", "serve", "segstream", "bench")


@pytest.mark.parametrize("name", CURATED)
def test_all_is_sorted_unique_and_complete(name: str) -> None:
    package = importlib.import_module(name)
    exported = package.__all__
    assert exported == sorted(exported) and len(set(exported)) == len(exported)
    public = {n for n, v in vars(package).items() if not n.startswith("_") and not isinstance(v, types.ModuleType)}
    assert public == set(exported), f"{name}: a public name is missing from __all__, or __all__ lists too much"


def test_embedding_names_are_there() -> None:
    import pipeline

    for name in ("Pipeline", "Segmenter", "PushSource", "CallbackSink", "LatestSink", "NullSink", "load_config",
                 "PipelineError", "ConfigError"):
        assert name in pipeline.__all__


def _every_module() -> list[str]:
    names = []
    for package in PACKAGES:
        names.append(package)
        module = importlib.import_module(package)
        names += [m.name for m in pkgutil.walk_packages(module.__path__, f"{package}.") if not m.name.endswith("__main__")]
    return names


def test_every_module_imports_in_a_fresh_interpreter() -> None:
    """An import error anywhere (a moved module, a name imported from where it no longer lives) fails here,
    with the module named: each module is imported on its own, so import order cannot hide a cycle."""
    code = (
        "import importlib, sys, traceback\n"
        "bad = []\n"
        "for name in sys.argv[1:]:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception:\n"
        "        bad.append(name + ': ' + traceback.format_exc().strip().splitlines()[-1])\n"
        "print('\\n'.join(bad))\n"
        "sys.exit(1 if bad else 0)\n"
    )
    modules = _every_module()
    assert len(modules) > 100
    result = subprocess.run([sys.executable, "-c", code, *modules], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("package", "forbidden"), [
    ("pipeline", ("torch", "tensorrt", "torchvision")),
    ("engines", ("torch", "tensorrt", "onnxruntime")),
    ("streetsim", ("torch", "onnxruntime", "av")),
    ("segcore", ("torch", "onnxruntime", "cv2", "av")),
])
def test_importing_a_light_package_imports_no_heavy_library(package: str, forbidden: tuple[str, ...]) -> None:
    code = f"import sys, {package}\nbad = sorted(m for m in {forbidden!r} if m in sys.modules)\nassert not bad, bad\n"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr


def test_the_pipeline_modules_and_the_run_script_import_no_torch() -> None:
    import pipeline

    modules = [m.name for m in pkgutil.walk_packages(pipeline.__path__, "pipeline.")]
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "import run_stream\n"
        "bad = sorted(m for m in ('torch', 'tensorrt', 'torchvision') if m in sys.modules)\n"
        "assert not bad, bad\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
