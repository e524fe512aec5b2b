"""Type-check the TensorRT code against ``tensorrt-stubs`` (TensorRT 10.13 API), with mypy --strict.

    python -m tests.tensorrt_stubs            # prints mypy's verdict; exit status is mypy's

The stubs package cannot be used as installed: it has no ``py.typed`` marker (mypy treats
``tensorrt`` as untyped, i.e. ``Any``), and its generated ``tensorrt.pyi`` does not parse
(parameters named ``in``/``out``, a parameter without a default after ones with defaults). This
copies the stubs to a temporary folder, repairs those lines, and runs mypy with that folder on
``mypy_path``, reporting errors in segstream's files only.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Every module of the builder package (so a new one is checked without being listed), and the runtime.
FILES = (
    *sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "engines" / "build").glob("*.py")),
    "engines/backends/tensorrt.py",
    "engines/backends/cuda_buffers.py",
)
CONFIG = """[mypy]
python_version = 3.10
strict = True
follow_imports = silent
ignore_missing_imports = True
mypy_path = {stubs}

[mypy-tensorrt,tensorrt.*,tensorrt_bindings,tensorrt_bindings.*]
ignore_errors = True
"""


def installed_stubs() -> Path | None:
    """The site-packages folder that holds tensorrt-stubs' ``tensorrt_bindings/tensorrt.pyi``."""
    spec = importlib.util.find_spec("tensorrt_bindings")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations)))
    return folder.parent if (folder / "tensorrt.pyi").is_file() else None


def _repair(line: str) -> str:
    line = re.sub(r"\b(in|out): ", r"\1_: ", line)
    if not line.lstrip().startswith("def ") or "=" not in line:
        return line
    head, sep, tail = line.partition("(")
    params, close, rest = tail.rpartition(")")
    parts, seen_default = [], False
    for part in params.split(", "):
        if "=" in part:
            seen_default = True
        elif seen_default and ":" in part and not part.lstrip().startswith("*"):
            part += " = ..."
        parts.append(part)
    return head + sep + ", ".join(parts) + close + rest


def write_stubs(site: Path, out: Path) -> Path:
    for package in ("tensorrt", "tensorrt_bindings"):
        for pyi in (site / package).glob("*.pyi"):
            target = out / package / pyi.name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text("\n".join(_repair(line) for line in pyi.read_text().splitlines()) + "\n")
    return out


def run_mypy(files: tuple[str, ...] = FILES, cache_dir: str | None = None) -> subprocess.CompletedProcess[str]:
    site = installed_stubs()
    if site is None:
        raise SystemExit("tensorrt-stubs is not installed: pip install tensorrt-stubs")
    with tempfile.TemporaryDirectory(prefix="trt-stubs-") as tmp:
        stubs = write_stubs(site, Path(tmp) / "stubs")
        config = Path(tmp) / "mypy.ini"
        config.write_text(CONFIG.format(stubs=stubs))
        command = [sys.executable, "-m", "mypy", "--config-file", str(config), *files]
        if cache_dir:
            command += ["--cache-dir", cache_dir]
        return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)


if __name__ == "__main__":
    done = run_mypy()
    print(done.stdout + done.stderr, end="")
    sys.exit(done.returncode)
