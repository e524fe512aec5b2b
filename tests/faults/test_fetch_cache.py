"""``segstream fetch`` on a real file system that is full or read-only: one line, exit 2, nothing
left in the model cache (the mirror is a real HTTP server on 127.0.0.1)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from engines.zoo import TORCHVISION
from tests.engines.test_fetch import NAME, SPEC, _Quiet, one_error, segstream, serving


def test_a_full_cache_disk_is_said_as_such_and_nothing_is_left(tmp_path: Path, mount_tmpfs: Callable[..., Path]) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / TORCHVISION[NAME].file).write_bytes(b"\1" * (3 << 20))  # 3 MiB into a 1 MiB disk
    cache = mount_tmpfs(tmp_path / "cache", 1024)
    with serving(_Quiet, directory=str(mirror)) as url:
        result = segstream("fetch", SPEC, "--base-url", url, "--cache-dir", str(cache))
    one_error(result, "cannot write the download into", "No space left on device", "--cache-dir")
    assert list(cache.iterdir()) == []


def test_a_read_only_cache_is_refused_before_any_download(read_only_folder: Path) -> None:
    result = segstream("fetch", SPEC, "--base-url", "http://127.0.0.1:9/", "--cache-dir", str(read_only_folder / "models"))
    one_error(result, "model cache (--cache-dir)", "Read-only file system")
