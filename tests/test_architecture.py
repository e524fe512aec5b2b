"""The layout is a decision, checked: which package may import which, and how big a module may grow.

    segcore    → nothing of segstream
    streetsim  → segcore
    engines    → segcore
    pipeline   → engines, streetsim, segcore
    training   → engines, streetsim, segcore
    serve      → pipeline, engines, segcore (the HTTP server; only the command imports it)
    segstream  → everything (the command; nothing imports it but run_stream.py)

Imports inside functions count too: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = ("segcore", "streetsim", "engines", "pipeline", "training", "serve", "segstream", "bench", "tools", "tests")
ALLOWED: dict[str, set[str]] = {
    "segcore": set(),
    "streetsim": {"segcore"},
    "engines": {"segcore"},
    "pipeline": {"engines", "streetsim", "segcore"},
    "training": {"engines", "streetsim", "segcore"},
    "serve": {"pipeline", "engines", "segcore"},
    "segstream": {"pipeline", "training", "serve", "engines", "streetsim", "segcore"},
}
MAX_LINES = 450


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _imported_packages(path: Path) -> dict[str, int]:
    """Top-level segstream packages ``path`` imports, each with the first line that does."""
    found: dict[str, int] = {}
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        for name in names:
            top = name.split(".")[0]
            if top in OURS:
                found.setdefault(top, node.lineno)
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_imports_follow_the_dependency_rule(package: str) -> None:
    wrong = [
        f"{path.relative_to(ROOT)}:{line} imports {other}"
        for path in _modules(package)
        for other, line in _imported_packages(path).items()
        if other != package and other not in ALLOWED[package]
    ]
    assert not wrong, f"{package} may import only {sorted(ALLOWED[package]) or 'nothing of ours'}:\n" + "\n".join(wrong)


def test_nothing_imports_training_or_the_command() -> None:
    for package in ("segcore", "streetsim", "engines", "pipeline", "bench"):
        for path in _modules(package):
            imported = _imported_packages(path)
            assert "training" not in imported, f"{path.relative_to(ROOT)} imports training"
            assert "segstream" not in imported, f"{path.relative_to(ROOT)} imports segstream"
            if package != "bench":  # the serve benchmark measures it
                assert "serve" not in imported, f"{path.relative_to(ROOT)} imports serve"


def test_the_checker_sees_lazy_imports(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("import numpy\n\ndef f():\n    from training.train import train\n    import pipeline.queues\n")
    assert _imported_packages(module) == {"training": 4, "pipeline": 5}


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_modules_stay_small(package: str) -> None:
    big = [f"{p.relative_to(ROOT)}: {n} lines" for p in _modules(package) if (n := len(p.read_text().splitlines())) > MAX_LINES]
    assert not big, f"modules over {MAX_LINES} lines (cut them along their seams):\n" + "\n".join(big)
