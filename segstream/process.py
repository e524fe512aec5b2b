"""How the run talks and how its process ends.

Messages: one line per state change of a live source, ``warning:`` lines for what the library
warns about, one ``error:`` line at the end of a failed run. OpenCV and FFmpeg keep their own
messages to errors and fatal errors (a failed connection is said in the source's status line
instead) unless ``OPENCV_LOG_LEVEL`` or ``OPENCV_FFMPEG_LOGLEVEL`` is set, or ``--debug`` is given
(which also shows the library's debug log and the traceback of an error).

How the process ends: a capture thread that is still blocked inside FFmpeg (a camera being
connected to, or frozen) cannot be interrupted, and Python 3.11 ends such a daemon thread during
interpreter finalisation with ``pthread_exit``, which aborts the process when it unwinds through
OpenCV's C++ (exit 134 instead of the run's code). So when such a thread outlives the run, the
command ends the process without finalising it (``os._exit``), after every output has been
closed and stdout and stderr flushed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import time
from types import FrameType

from segcore.exits import EXIT_INTERRUPTED, StopRequested

CAPTURE_EXIT_WAIT_S = 0.1  # at the end, how long capture threads may take to leave FFmpeg by themselves
REPEAT_WINDOW_S = 1.0  # a second Ctrl-C sooner than this is the first one delivered again (GNU timeout, uv run)
FFMPEG_LOG_FATAL = "8"  # AV_LOG_FATAL: FFmpeg says only what ends it


class StartupSignals:
    """Stop signals that arrive while the run starts (imports, config, model load), before the
    run's own handlers (``segstream/signals.py``) take over.

    They are recorded, not raised where they land (an exception raised inside an import, NumPy's
    for one, comes out as a misleading ImportError), and ``raise_if_received()`` acts on them at
    the next safe point: Ctrl-C ends in "interrupted" (130), SIGTERM and SIGHUP in one line and exit
    0; nothing has been written yet. A second Ctrl-C a second or more later exits at once (130).
    """

    def __init__(self) -> None:
        self.received: int | None = None
        self._received_at = 0.0
        self._previous = {sig: signal.signal(sig, self._handle) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}

    def restore(self) -> None:
        """The handlers from before, for each signal still handled here (the run's own handlers may
        have left a stop signal ignored on purpose: ``segstream/signals.py``)."""
        for sig, previous in self._previous.items():
            if signal.getsignal(sig) == self._handle:
                signal.signal(sig, previous)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        now = time.monotonic()
        if self.received is None:
            self.received, self._received_at = signum, now
        elif signum == signal.SIGINT and now - self._received_at >= REPEAT_WINDOW_S:
            sys.stderr.write("\ninterrupted again: exiting now (nothing was written)\n")
            sys.stderr.flush()
            os._exit(EXIT_INTERRUPTED)

    def raise_if_received(self) -> None:
        if self.received == signal.SIGINT:
            raise KeyboardInterrupt
        if self.received is not None:
            raise StopRequested("SIGTERM" if self.received == signal.SIGTERM else "SIGHUP")


def quiet_native_libraries(debug: bool) -> None:
    """OpenCV prints errors and worse, FFmpeg fatal errors only, unless the user set their levels or --debug."""
    if debug:
        return
    if "OPENCV_FFMPEG_LOGLEVEL" not in os.environ:  # read when OpenCV's FFmpeg backend first opens
        os.environ["OPENCV_FFMPEG_LOGLEVEL"] = FFMPEG_LOG_FATAL
    if "OPENCV_LOG_LEVEL" not in os.environ:
        import cv2

        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)


class _StderrLines(logging.Handler):
    """Log records as ``warning: ...`` lines on stderr, printed so that a progress bar stays intact."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            from tqdm import tqdm

            tqdm.write(f"{record.levelname.lower()}: {self.format(record)}", file=sys.stderr)
        except Exception:  # noqa: BLE001 - a message that cannot be shown must not end the run
            self.handleError(record)


def show_library_warnings(debug: bool) -> None:
    """The packages' warnings (everything with --debug) go to stderr once, in the command's format."""
    root = logging.getLogger()
    if not any(isinstance(handler, _StderrLines) for handler in root.handlers):
        root.addHandler(_StderrLines())
    root.setLevel(logging.DEBUG if debug else logging.WARNING)


def end_process(code: int) -> int:
    """The exit code to return, or the end of the process here when a capture thread is stuck in FFmpeg."""
    from pipeline.sources.watchdog import wait_for_captures

    try:
        if wait_for_captures(CAPTURE_EXIT_WAIT_S):
            return code
    except KeyboardInterrupt:
        code = EXIT_INTERRUPTED
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    logging.shutdown()
    os._exit(code)
