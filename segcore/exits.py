"""How every segstream command ends: exit codes, and an exception turned into one line.

    0    success (also after SIGTERM / SIGHUP: a requested stop is not a failure)
    1    a runtime failure (``SegstreamError.exit_code``: a pipeline, engine or build that failed)
    2    the user's mistake: usage, config, input or output error, or a backend not installed here
    130  interrupted by Ctrl-C

Each error class carries its exit code (``exit_code``), so this module needs no knowledge of the
packages that define them.
"""

from __future__ import annotations

import sys
import traceback

from segcore.errors import SegstreamError
from segcore.redact import redact_text

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

__all__ = ["EXIT_FAILURE", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "fail", "one_line"]


def fail(exc: BaseException) -> int:
    """Report an exception the way its kind deserves and return the exit code."""
    if isinstance(exc, KeyboardInterrupt):
        sys.stderr.write("\ninterrupted\n")
        return EXIT_INTERRUPTED
    if isinstance(exc, SegstreamError):
        sys.stderr.write(f"error: {one_line(exc)}\n")
        return exc.exit_code
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))  # a bug: show where
    sys.stderr.write(redact_text(text))
    return EXIT_FAILURE


def one_line(exc: BaseException) -> str:
    """The exception's message folded onto one line, credentials redacted."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return redact_text(text)
