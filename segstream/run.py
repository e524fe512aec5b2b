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

How it talks and how the process ends: ``segstream/process.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from segcore.exits import fail
from segstream.process import StartupSignals, end_process, quiet_native_libraries, show_library_warnings

if TYPE_CHECKING:
    from pipeline import Pipeline
    from pipeline.config_schema import Config
    from segstream.signals import SignalStop
    from serve import Server


def main(argv: Sequence[str] | None = None) -> int:
    startup = StartupSignals()  # a stop signal during the slow imports and the model load is acted on after them
    try:
        return _main(argv, startup)
    finally:
        startup.restore()  # a host that calls main() in its own process gets its handlers back


def _main(argv: Sequence[str] | None, startup: StartupSignals) -> int:
    try:
        from segstream.arguments import parse_args

        startup.raise_if_received()
    except KeyboardInterrupt as exc:
        return fail(exc)
    args = parse_args(list(argv) if argv is not None else None)
    debug = bool(args.debug)
    try:
        quiet_native_libraries(debug)
        show_library_warnings(debug)
        code = _run(args, startup)
    except BaseException as exc:  # noqa: BLE001 - every error becomes one line and an exit code
        code = fail(exc, debug=debug)
    return end_process(code)


def _run(args: argparse.Namespace, startup: StartupSignals) -> int:
    from pipeline import Pipeline
    from segstream.arguments import config_from_args
    from segstream.report import print_status

    config = config_from_args(args)  # defaults ← --config ← flags ← --set
    server = open_server(config)  # --serve: the port is taken now (a busy one ends the run here, exit 2)
    with contextlib.ExitStack() as stack:
        if server is not None:
            stack.callback(server.close)  # streams end, the HTTP thread is joined: also after an error
        sinks = [server.sink] if server is not None else []
        pipeline = Pipeline.from_config(config, sinks=sinks, on_status=print_status)  # model, contracts, sources, outputs checked
        if pipeline.meta.notice:  # what was assumed about a model that did not say (engines.describe)
            sys.stderr.write(f"note: {pipeline.meta.notice}\n")
        startup.raise_if_received()
        return _loop(pipeline, config, server, startup)


def _loop(pipeline: Pipeline, config: Config, server: Server | None, startup: StartupSignals) -> int:
    from segstream.report import print_serving, progress_bar, report
    from segstream.signals import SignalStop

    with SignalStop(pipeline, startup.received) as signals:  # Ctrl-C / SIGTERM / SIGHUP: stop, drain or drop, finalise
        start(pipeline, signals)  # opens sources, loads the engine, opens the sinks, starts reading
        print_serving(pipeline)  # --restream: the URL of each stream
        if server is not None:
            try:
                server.start(pipeline)
            except BaseException:  # the outputs are still finalised before the error's line
                pipeline.stop(drain=False)
                with contextlib.suppress(Exception):
                    pipeline.join(timeout=10.0)
                raise
            sys.stderr.write(f"serving {server.url} (live page; /metrics, /v1/segment, /stream/SOURCE.mjpg)\n")
            if not server.loopback_only and not server.config.serve.token:
                sys.stderr.write(f"warning: --serve listens on {server.config.serve.host}, beyond this machine, with no "
                                 "token: anyone who can reach it sees the streams; set serve.token\n")
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


def open_server(config: Config) -> Server | None:
    """The HTTP server ``--serve`` / ``serve.port`` asks for, its port bound; None without one."""
    if config.serve.port is None:
        return None
    from serve import Server

    return Server(config)


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
