"""Files written whole or not at all, and their fingerprints: one hasher, one JSON writer.

``write_atomic`` writes to a temporary file beside the target, fsyncs it and renames it over the
target, so a reader (or a crash) sees the old file or the new one, never a half-written one.
``write_json`` does that for JSON, with non-finite floats written as ``null`` (strict JSON) and an
``OutputError`` naming the path when it cannot be written.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from segcore.errors import OutputError

__all__ = ["sha256_file", "sha256_text", "write_atomic", "write_json"]


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """The hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def sha256_text(text: str) -> str:
    """The hex SHA-256 of a string (UTF-8): fingerprints and cache keys."""
    return hashlib.sha256(text.encode()).hexdigest()


def write_atomic(path: str | Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, fsync it, and rename it over ``path``."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.{time.monotonic_ns()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable where the OS allows
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_json(data: Mapping[str, Any], path: str | Path, *, what: str = "JSON file", indent: int = 2) -> Path:
    """Write ``data`` as JSON to ``path`` atomically (parents created); OutputError if it cannot."""
    path = Path(path)
    text = json.dumps(_finite(data), indent=indent, default=str) + "\n"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, text.encode())
    except OSError as exc:
        raise OutputError(f"cannot write the {what} {path}: {exc.strerror or exc}") from None
    return path


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
