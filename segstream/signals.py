"""Signals turned into a graceful stop of the run (the library itself installs no handlers)."""

from __future__ import annotations

import os
import signal
import sys
from types import FrameType
from typing import Any

from pipeline.pipeline import Pipeline
from segcore.exits import EXIT_INTERRUPTED, EXIT_OK


class SignalStop:
    """SIGINT / SIGTERM → a graceful stop; a second Ctrl-C exits at once (code 130).

    The handler only records the signal; ``check()``, called from the main loop, asks the pipeline
    to stop (never from inside the handler, which could interrupt a lock holder).
    """

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.received: int | None = None
        self._forwarded = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> SignalStop:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is not None and signum == signal.SIGINT:
            sys.stderr.write("\ninterrupted again: exiting now\n")
            sys.stderr.flush()
            os._exit(EXIT_INTERRUPTED)
        if self.received is None:
            self.received = signum

    def check(self) -> None:
        if self.received is not None and not self._forwarded:
            self._forwarded = True
            name = "Ctrl-C" if self.received == signal.SIGINT else "SIGTERM"
            how = "dropping queued frames" if self.pipeline.live else "finishing queued frames"
            sys.stderr.write(f"\n{name}: stopping ({how}; Ctrl-C again to exit at once)\n")
            self.pipeline.stop()

    @property
    def exit_code(self) -> int:
        return EXIT_INTERRUPTED if self.received == signal.SIGINT else EXIT_OK
