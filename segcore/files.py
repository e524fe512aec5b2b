"""Files written whole or not at all, and their fingerprints: one hasher, one JSON writer.

``write_atomic`` writes to a temporary file beside the target, fsyncs it and renames it over the
target, so a reader (or a crash) sees the old file or the new one, never a half-written one.
``write_json`` does that for JSON, with non-finite floats written as ``null`` (strict JSON) and an
``OutputError`` naming the path when it cannot be written. ``check_folder`` and
``check_output_file`` prove, before a command does any work, that what it will write can be
written (without creating anything); ``make_folder`` creates a folder or says why it cannot.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from segcore.errors import OutputError

__all__ = [
    "check_folder", "check_output_file", "make_folder", "nearest_existing", "probe_writable", "sha256_file", "sha256_text",
    "write_atomic", "write_json",
]


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


def check_folder(path: str | Path, what: str) -> Path:
    """Prove that files can be created in the folder ``path`` (``what`` names it in errors), or raise
    an ``OutputError`` that says why not: a file in the way, a read-only or full file system, no
    permission. A folder that does not exist yet is not created: the nearest existing one above it
    is probed instead (``probe_writable``)."""
    path = Path(path).expanduser()
    existing = path
    while not existing.exists() and existing != existing.parent:
        if existing.is_symlink():
            raise OutputError(f"{what} {path}: {existing} is a broken symbolic link; remove it or choose another folder")
        existing = existing.parent
    if not existing.is_dir():
        if existing == path:
            raise OutputError(f"{what} {path} is a file, not a folder; give a folder (or a new name)")
        raise OutputError(f"{what} {path} cannot be created: {existing} is a file, not a folder")
    try:
        probe_writable(existing)
    except OSError as exc:
        where = "" if existing == path else f" (its nearest existing folder {existing})"
        raise OutputError(
            f"cannot write into the {what} {path}{where}: {exc.strerror or exc}; choose a writable folder"
        ) from None
    return path


def nearest_existing(path: str | Path) -> Path:
    """``path`` if it exists, else the nearest of its parents that does (absolute)."""
    candidate = Path(os.path.abspath(Path(path).expanduser()))
    for folder in (candidate, *candidate.parents):
        if folder.exists():
            return folder
    return Path(os.path.abspath(os.sep))


def probe_writable(folder: str | Path) -> None:
    """Create a one-byte file in ``folder`` and remove it: ``OSError`` when a file cannot be written
    there (read-only mount, no permission, a full disk refuses even one byte)."""
    handle, probe = tempfile.mkstemp(prefix=".segstream-probe-", dir=folder)
    try:
        os.write(handle, b"\0")
    finally:
        os.close(handle)
        with contextlib.suppress(OSError):
            os.unlink(probe)


def check_output_file(path: str | Path, what: str, *, inputs: Sequence[str | Path] = ()) -> Path:
    """Prove that the file ``path`` can be written before a command does its work: ``OutputError``
    if it is a folder, if its folder cannot be written (``check_folder``), or if it is one of
    ``inputs`` (symbolic links resolved)."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise OutputError(f"{what} {path} is a folder; give a file name such as {path / 'result.json'}")
    check_folder(path.parent, f"folder of the {what}")
    for source in inputs:
        if path.resolve() == Path(source).expanduser().resolve():
            raise OutputError(f"{what} {path} is an input of this command ({source}); writing it would destroy it: "
                              "give another file")
    return path


def make_folder(path: str | Path, what: str) -> Path:
    """Create the folder ``path`` (and its parents) if needed; ``OutputError`` naming it if that fails."""
    path = Path(path).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputError(f"{what} {path} is a file, not a folder; give a folder (or a new name)") from None
    except OSError as exc:
        raise OutputError(f"cannot create the {what} {path}: {exc.strerror or exc}; choose a writable folder") from None
    return path
