"""``segstream [SOURCE ...]``: the streaming run, written as the loop it is.

With no arguments: the bundled model on the built-in synthetic street stream, writing an
annotated video to out/segstream_demo.mp4. Ctrl-C (or SIGTERM) stops gracefully: the video is
finalised and the summary written; a second Ctrl-C exits at once.
Exit codes: 0 ok, 1 runtime failure, 2 usage/config/input error, 130 interrupted.
"""

from __future__ import annotations

from collections.abc import Sequence

from pipeline import Pipeline
from segcore.exits import fail
from segstream.arguments import config_from_args, parse_args
from segstream.report import print_status, progress_bar, report
from segstream.signals import SignalStop


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(list(argv) if argv is not None else None)
    try:
        config = config_from_args(args)  # defaults ← --config ← flags ← --set
        pipeline = Pipeline.from_config(config, on_status=print_status)  # model, contracts, sources, outputs checked
        with SignalStop(pipeline) as signals:  # Ctrl-C / SIGTERM: stop, drain or drop, finalise
            pipeline.start()  # opens sources, loads the engine, opens the sinks, starts reading
            with progress_bar(pipeline) as progress:
                try:
                    while not pipeline.join(timeout=0.25):
                        signals.check()
                        progress.update(pipeline)
                finally:
                    report(pipeline, config)  # summary table, --json; also after a failure
        return signals.exit_code
    except BaseException as exc:  # noqa: BLE001 - every error becomes one line and an exit code
        return fail(exc, debug=args.debug)
