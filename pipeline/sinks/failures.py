"""Why an output file could not be written, in words a user can act on."""

from __future__ import annotations

import errno

_HINTS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is used up",
    errno.EFBIG: "the file reached the largest size allowed here",
}


def write_failure(exc: BaseException) -> str:
    """``exc``, raised while writing a file, as one short line: "No space left on device (the disk is full)"."""
    text = getattr(exc, "strerror", None)
    if not text:
        lines = str(exc).strip().splitlines()
        text = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
    hint = _HINTS.get(getattr(exc, "errno", None) or 0)
    return f"{text} ({hint})" if hint else str(text)
