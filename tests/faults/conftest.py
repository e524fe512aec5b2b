"""Fixtures the fault-injection tests share: real file systems that are full or read-only."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

SUDO = [] if os.geteuid() == 0 else ["sudo", "-n"]


@pytest.fixture
def mount_tmpfs() -> Iterator[Callable[..., Path]]:
    """``mount_tmpfs(path, size_kib, read_only=False)``: a real tmpfs there, unmounted afterwards.

    Root ignores folder permissions, so a read-only mount (or a tiny full one) is how these tests
    deny a write even to root. Without root or password-less sudo they fail: CI has both."""
    mounted: list[Path] = []

    def mount(path: Path, size_kib: int, *, read_only: bool = False) -> Path:
        path.mkdir(parents=True, exist_ok=True)
        options = f"size={size_kib}k" + (",ro" if read_only else "")
        done = subprocess.run([*SUDO, "mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.fail(f"these tests need to mount a tmpfs (root or password-less sudo): {done.stderr.strip()}")
        mounted.append(path)
        return path

    yield mount
    for path in reversed(mounted):
        subprocess.run([*SUDO, "umount", "-l", str(path)], capture_output=True)


@pytest.fixture
def read_only_folder(tmp_path: Path, mount_tmpfs: Callable[..., Path]) -> Path:
    """An empty folder on a read-only tmpfs: even root cannot create a file in it."""
    folder = mount_tmpfs(tmp_path / "read_only", 64, read_only=True)
    with pytest.raises(OSError):
        (folder / "probe").write_bytes(b"")
    return folder
