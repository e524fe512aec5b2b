"""Signals turned into a graceful stop of the run (the library itself installs no handlers).

SIGINT (Ctrl-C), SIGTERM and SIGHUP (the terminal or ssh session was closed) each stop the run
gracefully: the sources stop, queued frames are finished (files) or dropped (live), the video is
finalised and the summary printed and written. Exit codes: 130 after SIGINT; 0 after SIGTERM and
after SIGHUP, because a stop that was asked for is not a failure and what was written is complete.

One Ctrl-C often arrives twice: GNU ``timeout``, ``uv run`` and some supervisors send it to the
child and then to its whole process group, microseconds apart. So a repeat within
``REPEAT_WINDOW_S`` of the first signal is the same request and is ignored. The hard exit: a
Ctrl-C that comes ``REPEAT_WINDOW_S`` or more after the first stop request ends the process at
once with 130, without finalising anything: the unfinished video files are removed (they could
never be played) and the line says so. Further
SIGTERMs and SIGHUPs are ignored: the stop they ask for is under way (a supervisor that will not
wait sends SIGKILL).

After SIGHUP the terminal may be gone, and every write to it fails (EIO): from then on such
writes are dropped, so that the run still finishes its files and ends with its exit code.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from types import FrameType
from typing import Any, TextIO

from pipeline.lifecycle import PipelineState
from pipeline.pipeline import Pipeline
from segcore.exits import EXIT_INTERRUPTED, EXIT_OK
from segstream.process import REPEAT_WINDOW_S

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
NAMES = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM", signal.SIGHUP: "SIGHUP"}


class SignalStop:
    """SIGINT / SIGTERM / SIGHUP → a graceful stop; a later second Ctrl-C exits at once (code 130).

    The handler only records the signal (and, on SIGHUP, guards stdout and stderr); ``check()``,
    called from the main thread's loop, asks the pipeline to stop (never from inside the handler,
    which could interrupt a lock holder). Once a signal was received and the run has stopped, the
    stop signals are ignored to the end of the process, so that the second delivery of one,
    arriving after a quick stop, cannot kill it with its default action.
    """

    def __init__(self, pipeline: Pipeline, received: int | None = None) -> None:
        """``received``: a stop signal that came while the run was starting, not yet acted on."""
        self.pipeline = pipeline
        self.received: int | None = received
        self._received_at = time.monotonic()
        self._forwarded = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> SignalStop:
        for sig in STOP_SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.received is None:
            for sig, handler in self._previous.items():
                signal.signal(sig, handler)
            return
        # The run has stopped as asked and its outputs are complete. A late repeat of the request
        # (the second delivery of a wrapper's signal) must not kill the process now, and Python
        # resets handled signals to their default action while it finalises: ignore them instead.
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        now = time.monotonic()
        if signum == signal.SIGHUP:
            sys.stdout, sys.stderr = HangupSafe.wrap(sys.stdout), HangupSafe.wrap(sys.stderr)
        if self.received is None:
            self.received, self._received_at = signum, now
        elif signum == signal.SIGINT and now - self._received_at >= REPEAT_WINDOW_S:
            removed = self.pipeline.discard_unfinished()
            left = f" (removed the unfinished {', '.join(str(p) for p in removed)})" if removed else ""
            sys.stderr.write(f"\ninterrupted again: exiting now{left}\n")
            sys.stderr.flush()
            os._exit(EXIT_INTERRUPTED)

    def check(self) -> None:
        """Forward a recorded signal to the pipeline as a stop (once)."""
        if self.received is not None and not self._forwarded:
            self._forwarded = True
            name = NAMES.get(signal.Signals(self.received), f"signal {self.received}")
            if self.pipeline.state is PipelineState.STARTING:
                how = "while starting"
            else:
                how = "dropping queued frames" if self.pipeline.live else "finishing queued frames"
            sys.stderr.write(f"\n{name}: stopping ({how}; Ctrl-C again after a second exits at once)\n")
            self.pipeline.stop()

    @property
    def exit_code(self) -> int:
        return EXIT_INTERRUPTED if self.received == signal.SIGINT else EXIT_OK


class HangupSafe:
    """A text stream whose failing writes are dropped: the terminal behind it may have been closed."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._broken = False

    @classmethod
    def wrap(cls, stream: TextIO) -> TextIO:
        return stream if isinstance(stream, HangupSafe) else cls(stream)  # type: ignore[return-value]

    def write(self, text: str) -> int:
        if not self._broken:
            try:
                return self._stream.write(text)
            except (OSError, ValueError):  # EIO from a closed terminal, or a stream already closed
                self._broken = True
        return len(text)

    def flush(self) -> None:
        if not self._broken:
            try:
                self._stream.flush()
            except (OSError, ValueError):
                self._broken = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)
