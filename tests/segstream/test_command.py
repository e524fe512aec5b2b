"""The installed ``segstream`` command works from any folder: the run, its help, and the subcommands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(sys.executable).with_name("segstream")


def segstream(*args: str, cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    assert SCRIPT.is_file(), f"{SCRIPT} is missing: `pip install -e .` (make install) provides the segstream command"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the installed package, not this checkout's path
    return subprocess.run([str(SCRIPT), *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


def test_help_lists_the_run_options_and_the_subcommands(tmp_path: Path) -> None:
    result = segstream("--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "--max-frames" in result.stdout and "--config" in result.stdout
    for name in ("train", "eval", "export", "build", "models"):
        assert f"\n  {name} " in result.stdout


def test_a_run_from_another_folder_finds_the_bundled_model(tmp_path: Path) -> None:
    result = segstream("synthetic://street?seed=5&frames=3&size=160x96", "--json", "s.json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["frames"] == 3


@pytest.mark.parametrize(("name", "usage"), [("eval", "--data"), ("export", "--checkpoint"), ("build", "--precision"),
                                             ("train", "--config")])
def test_subcommands_answer_help(tmp_path: Path, name: str, usage: str) -> None:
    result = segstream(name, "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert usage in result.stdout


def test_a_subcommand_name_that_is_also_a_path_here_is_refused(tmp_path: Path) -> None:
    (tmp_path / "eval").write_bytes(b"")
    result = segstream("eval", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "./eval" in result.stderr and "Traceback" not in result.stderr


def test_a_usage_error_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = segstream("--max-frames", "lots", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
