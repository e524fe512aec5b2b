"""``segstream [SOURCE ...]``: the streaming run, written as the loop it is.

With no arguments: the bundled model on the built-in synthetic street stream, writing an
annotated video to out/segstream_demo.mp4. Ctrl-C, SIGTERM or SIGHUP stops gracefully, also while
a camera is still being connected to: the video is finalised and the summary written; a second
Ctrl-C a second or more later exits at once (``segstream/signals.py``).

Exit codes: 0 ok (also after SIGTERM or SIGHUP), 1 runtime failure, 2 usage/config/input error,
130 interrupted. A run whose every source failed exits with that source's code: 2 when a source
never delivered a frame (an address, credentials or camera that cannot be used), 1 when it was
lost during the run and its reconnect attempts ran out; a run where only some sources failed
goes on with the others, names the failed ones on a ``warning:`` line and in the summary's
``failed_sources``, and exits 0.

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

import argparse
import contextlib
import logging
import os
import sys
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from segcore.exits import EXIT_INTERRUPTED, fail

if TYPE_CHECKING:
    from pipeline import Pipeline
    from segstream.signals import SignalStop

CAPTURE_EXIT_WAIT_S = 0.1  # at the end, how long capture threads may take to leave FFmpeg by themselves
FFMPEG_LOG_FATAL = "8"  # AV_LOG_FATAL: FFmpeg says only what ends it


def main(argv: Sequence[str] | None = None) -> int:
    try:  # the slow imports (the pipeline, OpenCV, ONNX Runtime): a Ctrl-C meanwhile ends in one line too
        from segstream.arguments import parse_args
    except KeyboardInterrupt as exc:
        return fail(exc)
    args = parse_args(list(argv) if argv is not None else None)
    debug = bool(args.debug)
    try:
        quiet_native_libraries(debug)
        show_library_warnings(debug)
        code = _run(args)
    except BaseException as exc:  # noqa: BLE001 - every error becomes one line and an exit code
        code = fail(exc, debug=debug)
    return _end(code)


def _run(args: argparse.Namespace) -> int:
    from pipeline import Pipeline
    from segstream.arguments import config_from_args
    from segstream.report import print_status, progress_bar, report
    from segstream.signals import SignalStop

    config = config_from_args(args)  # defaults ← --config ← flags ← --set
    pipeline = Pipeline.from_config(config, on_status=print_status)  # model, contracts, sources, outputs checked
    with SignalStop(pipeline) as signals:  # Ctrl-C / SIGTERM / SIGHUP: stop, drain or drop, finalise
        start(pipeline, signals)  # opens sources, loads the engine, opens the sinks, starts reading
        with progress_bar(pipeline) as progress:
            try:
                while not pipeline.join(timeout=0.25):
                    signals.check()
                    progress.update(pipeline)
            finally:
                summary = report(pipeline, config)  # summary table, --json; also after a failure
        failed = summary.get("failed_sources") or {}
        if failed:  # some sources gave up, the others went on (when all did, join() raised)
            reasons = "; ".join(f"{source_id}: {reason}" for source_id, reason in failed.items())
            sys.stderr.write(f"warning: {len(failed)} of {len(summary['sources'])} sources failed: {reasons}\n")
        return signals.exit_code


def start(pipeline: Pipeline, signals: SignalStop) -> None:
    """``pipeline.start()`` on a helper thread, so that a signal stops it promptly at any point
    (opening a camera waits up to its open timeout; the main thread keeps checking for signals)."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            pipeline.start()
        except BaseException as exc:  # handed to the main thread, which raises it
            errors.append(exc)

    starter = threading.Thread(target=run, name="segstream-start", daemon=True)
    starter.start()
    while starter.is_alive():
        signals.check()
        starter.join(0.05)
    signals.check()
    if errors:
        raise errors[0]


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


def _end(code: int) -> int:
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
