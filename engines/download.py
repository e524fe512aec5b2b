"""One file over HTTP(S) (or ``file://``, for a mirror on a disk), checked against the SHA-256 its
name promises, written whole or not at all.

Only ``segstream fetch`` calls this, when the user asked for that download; library code never
downloads by itself. The bytes go to a hidden temporary file beside the destination while they are
hashed; the file is renamed to its name only when every byte the server announced arrived and the
hash matches, and removed on any failure (an HTTP error, no answer within the timeout, a
connection that ends early, a file larger than allowed, a wrong hash, Ctrl-C).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.client
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engines.errors import ModelError
from segcore.redact import redact_uri

__all__ = ["MAX_BYTES", "Progress", "download_checked"]

MAX_BYTES = 512 << 20  # torchvision's segmentation checkpoints are 13 MB to 250 MB
_CHUNK = 1 << 16
Progress = Callable[[int, int | None], None]  # (bytes so far, bytes announced or None)


def download_checked(
    url: str,
    dest: str | Path,
    *,
    sha256_prefix: str,
    timeout: float,
    max_bytes: int = MAX_BYTES,
    progress: Progress | None = None,
) -> str:
    """Download ``url`` to ``dest`` if its SHA-256 starts with ``sha256_prefix``; return the full hex digest.

    ``timeout`` bounds the wait for the connection and for each read (a server that stops sending
    fails after ``timeout`` seconds of silence). Raises ``ModelError`` (one line, the URL with any
    credentials masked, what to do) and leaves no file behind."""
    dest = Path(dest)
    shown = redact_uri(url)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.{time.monotonic_ns()}.download")
    try:
        digest, size = _fetch(url, tmp, shown, timeout=timeout, max_bytes=max_bytes, progress=progress)
        if not digest.startswith(sha256_prefix.lower()):
            raise ModelError(
                f"{shown} is not the file its name promises: its SHA-256 starts with {digest[:len(sha256_prefix)]}, "
                f"not {sha256_prefix} ({size} bytes); nothing was kept; check --base-url (a mirror must hold "
                "torchvision's file unchanged) and try again"
            )
        os.replace(tmp, dest)
        return digest
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def _fetch(url: str, tmp: Path, shown: str, *, timeout: float, max_bytes: int,
           progress: Progress | None) -> tuple[str, int]:
    request = _request(url)
    digest = hashlib.sha256()
    size = 0
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - the scheme is checked by the caller
            announced = _announced_length(response)
            if announced is not None and announced > max_bytes:
                raise ModelError(f"{shown} is {announced} bytes, more than the {max_bytes >> 20} MiB a checkpoint "
                                 "may have; check --base-url")
            with _Writer(tmp) as sink:
                while block := response.read(_CHUNK):
                    size += len(block)
                    if size > max_bytes:
                        raise ModelError(f"{shown} sent more than the {max_bytes >> 20} MiB a checkpoint may have; "
                                         "check --base-url")
                    digest.update(block)
                    sink.write(block)
                    if progress is not None:
                        progress(size, announced)
    except urllib.error.HTTPError as exc:
        raise ModelError(f"cannot download {shown}: HTTP {exc.code} {exc.reason}; check the name and --base-url "
                         "(a mirror must hold torchvision's file under its own name)") from None
    except urllib.error.URLError as exc:
        raise ModelError(_unreachable(shown, exc.reason, timeout)) from None
    except TimeoutError as exc:
        raise ModelError(_unreachable(shown, exc, timeout)) from None
    except (ConnectionError, http.client.HTTPException) as exc:
        raise ModelError(f"the download of {shown} broke off after {size} bytes ({exc}); nothing was kept; "
                         "try again") from None
    except OSError as exc:
        raise ModelError(_unreachable(shown, exc, timeout)) from None
    if announced is not None and size != announced:
        raise ModelError(f"the download of {shown} ended after {size} of the {announced} bytes the server announced; "
                         "nothing was kept; try again")
    return digest.hexdigest(), size


class _Writer:
    """The temporary file, whose failures (a full disk, a read-only cache) are said as such, not
    mistaken for the network's."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.file = self._do(lambda: open(path, "wb"))  # noqa: SIM115 - closed by __exit__

    def write(self, block: bytes) -> None:
        self._do(lambda: self.file.write(block))

    def __enter__(self) -> _Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if exc[0] is None:
                self._do(self.file.flush)
                self._do(lambda: os.fsync(self.file.fileno()))
        finally:
            self.file.close()

    def _do(self, action: Callable[[], Any]) -> Any:
        try:
            return action()
        except OSError as exc:
            raise ModelError(f"cannot write the download into {self.path.parent}: {exc.strerror or exc}; "
                             "free some space or choose another --cache-dir") from None


def _request(url: str) -> urllib.request.Request:
    """A GET of ``url``; credentials in it (``https://user:pass@mirror/``) become a Basic
    Authorization header, which urllib does not do by itself."""
    headers = {"User-Agent": "segstream-fetch"}
    parts = urllib.parse.urlsplit(url)
    if parts.username is not None:
        user = urllib.parse.unquote(parts.username)
        password = urllib.parse.unquote(parts.password or "")
        headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        netloc = parts.hostname or ""
        netloc = f"[{netloc}]" if ":" in netloc else netloc
        url = urllib.parse.urlunsplit(parts._replace(netloc=netloc + (f":{parts.port}" if parts.port else "")))
    return urllib.request.Request(url, headers=headers)


def _announced_length(response: object) -> int | None:
    headers = getattr(response, "headers", None)
    value = headers.get("Content-Length") if headers is not None else None
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _unreachable(shown: str, reason: object, timeout: float) -> str:
    if isinstance(reason, TimeoutError):
        host = urllib.parse.urlsplit(shown).hostname or shown
        return (f"no answer from {host} within {timeout:g} s while downloading {shown}; nothing was kept; check the "
                "network or --base-url, or allow longer with --timeout")
    if isinstance(reason, FileNotFoundError):
        return f"cannot download {shown}: no such file; check the name and --base-url"
    text = getattr(reason, "strerror", None) or str(reason)
    return f"cannot download {shown}: {text}; check the network and --base-url"
