"""How every segstream command ends: exit codes, and whatever ended it turned into one line.

    0    success (also after SIGTERM / SIGHUP: a requested stop is not a failure)
    1    a runtime failure (``SegstreamError.exit_code``: a pipeline, engine or build that failed;
         an operating-system error nobody turned into a message; a bug)
    2    the user's mistake: usage, config, input or output error, or a backend not installed here
    130  interrupted by Ctrl-C

Every command's ``main(argv)`` runs its body through ``run_command`` and builds its parser with
``CommandParser``, so each ends the same way: one line ``error: what, where, what to do`` on
stderr and the exit code its error class carries (``exit_code``; this module needs no knowledge of
the packages that define them), a usage error in one line with exit 2, and no traceback unless
``--debug`` is on the command line. An exception no one expected is reported as a bug in one line
that says how to get its traceback. A closed stdout (``segstream models | head -1``) ends the
command quietly with exit 1.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from segcore.errors import SegstreamError
from segcore.redact import redact_text

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
DEBUG_FLAG = "--debug"
DEBUG_HINT = f"rerun with {DEBUG_FLAG} for the traceback"


class StopRequested(KeyboardInterrupt):
    """SIGTERM or SIGHUP that arrived while a command was starting: the command ends having
    written nothing, with exit 0 because the stop was asked for."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name

__all__ = [
    "DEBUG_FLAG", "EXIT_FAILURE", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "CommandParser", "fail",
    "StopRequested", "float_range", "int_range", "one_line", "run_command", "wants_debug",
]


class CommandParser(argparse.ArgumentParser):
    """``argparse`` for segstream's commands: ``--debug`` on every one, and a usage error is one
    line (``error: ... (see PROG --help)``, exit 2) instead of the usage block."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.add_argument(DEBUG_FLAG, action="store_true", help="on an error, print its full traceback")

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"error: {message} (see {self.prog} --help)\n")
        raise SystemExit(EXIT_USAGE)


def int_range(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse ``type``: an integer in ``[low, high]`` (no upper bound when ``high`` is None)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < low or (high is not None and value > high):
            allowed = f"at least {low}" if high is None else f"from {low} to {high}"
            raise argparse.ArgumentTypeError(f"{value} is out of range: it must be {allowed}")
        return value

    return parse


def float_range(low: float, high: float | None = None, *, above: bool = False) -> Callable[[str], float]:
    """An argparse ``type``: a finite number from ``low`` (above it when ``above``) up to ``high``."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        too_low = value <= low if above else value < low
        if not math.isfinite(value) or too_low or (high is not None and value > high):
            lowest = f"above {low:g}" if above else f"at least {low:g}"
            allowed = lowest if high is None else f"{lowest} and at most {high:g}"
            raise argparse.ArgumentTypeError(f"{text} is out of range: it must be a finite number {allowed}")
        return value

    return parse


def run_command(main: Callable[[list[str]], int | None], argv: Sequence[str] | None = None) -> int:
    """Run a command's body on ``argv`` (default: ``sys.argv[1:]``) and return its exit code,
    whatever ends it: a return value, ``SystemExit`` (``--help``, a usage error already reported),
    an error (reported by ``fail``) or Ctrl-C."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        return int(main(args) or EXIT_OK)
    except SystemExit as exc:
        return _system_exit_code(exc)
    except BrokenPipeError:  # the reader of stdout went away (``| head``): nothing to report to it
        _silence_stdout()
        return EXIT_FAILURE
    except BaseException as exc:  # noqa: BLE001 - every ending becomes one line and an exit code
        return fail(exc, debug=wants_debug(args))


def wants_debug(argv: Sequence[str]) -> bool:
    """Whether ``--debug`` is among ``argv``'s options (before a ``--``)."""
    for arg in argv:
        if arg == "--":
            return False
        if arg == DEBUG_FLAG:
            return True
    return False


def fail(exc: BaseException, *, debug: bool = False) -> int:
    """Report an exception the way its kind deserves and return the exit code.

    ``debug``: print the traceback first (credentials redacted), whatever the error.
    """
    if debug:
        sys.stderr.write(redact_text("".join(traceback.format_exception(type(exc), exc, exc.__traceback__))))
    if isinstance(exc, StopRequested):
        sys.stderr.write(f"\n{exc.name}: stopped while starting (nothing was written)\n")
        return EXIT_OK
    if isinstance(exc, KeyboardInterrupt):
        sys.stderr.write("\ninterrupted\n")
        return EXIT_INTERRUPTED
    if isinstance(exc, SystemExit):
        return _system_exit_code(exc)
    if isinstance(exc, SegstreamError):
        sys.stderr.write(f"error: {one_line(exc)}\n")
        return exc.exit_code
    hint = "" if debug else f" ({DEBUG_HINT})"
    if isinstance(exc, OSError):  # the machine said no (disk full, permissions) where no check caught it
        sys.stderr.write(f"error: {_os_error(exc)}{hint}\n")
        return EXIT_FAILURE
    sys.stderr.write(
        f"error: unexpected {type(exc).__name__}: {one_line(exc)}; this is a bug in segstream"
        f"{'' if debug else ': ' + DEBUG_HINT}, and please report it\n"
    )
    return EXIT_FAILURE


def one_line(exc: BaseException) -> str:
    """The exception's message folded onto one line, credentials redacted."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return redact_text(text)


def _os_error(exc: OSError) -> str:
    if exc.strerror is None:
        return one_line(exc)
    where = f": {exc.filename}" if exc.filename is not None else ""
    also = f" -> {exc.filename2}" if exc.filename2 is not None else ""
    return redact_text(f"{exc.strerror}{where}{also}")


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's final flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real stdout (captured, closed): nothing will be flushed to it
        pass


def _system_exit_code(exc: SystemExit) -> int:
    """``sys.exit``'s argument as an exit code: a message is printed (as Python does) and means 1."""
    if exc.code is None or isinstance(exc.code, int):
        return exc.code or EXIT_OK
    sys.stderr.write(f"{exc.code}\n")
    return EXIT_FAILURE
