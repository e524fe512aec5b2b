"""An exclusive file lock (``fcntl.flock``) that threads and processes building one file share.

The lock file is left in place on purpose (deleting it would let two builders hold "the" lock at
once); the kernel drops the lock when its holder dies, so a crashed build never leaves a stale lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from engines.errors import BuildLockTimeout


def lock_path_for(path: str | Path) -> Path:
    """``model.fp16.engine`` → ``model.fp16.engine.lock``."""
    path = Path(path)
    return path.with_name(path.name + ".lock")


@contextlib.contextmanager
def file_lock(
    path: str | Path,
    *,
    timeout: float | None = None,
    poll: float = 0.05,
    on_wait: Callable[[str], None] | None = None,
) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if needed) for the ``with`` block.

    Threads of one process exclude each other too: each call opens its own file description.
    ``on_wait`` is called once, with what the holder wrote into the file, if we have to wait.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fh: IO[str] = open(path, "a+")  # noqa: SIM115 - closed in finally
    try:
        deadline = None if timeout is None else time.monotonic() + timeout
        waited = False
        while True:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not waited:
                    waited = True
                    if on_wait is not None:
                        on_wait(_holder(fh))
                if deadline is not None and time.monotonic() >= deadline:
                    raise BuildLockTimeout(
                        f"gave up after {timeout:.0f} s waiting for {path} (held by {_holder(fh)}); "
                        "let that build finish, or raise the lock timeout"
                    ) from None
                time.sleep(poll)
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        fh.flush()
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
    finally:
        fh.close()


def _holder(fh: IO[str]) -> str:
    """What the lock's holder wrote into the lock file."""
    fh.seek(0)
    return fh.read().strip() or "another builder"
