"""What ``run_stream.py`` needs around its loop: arguments, signals, progress, the summary, exit codes.

Exit codes: 0 success (also after SIGTERM), 1 a runtime failure, 2 a usage, config or input error
(one line ``error: ...`` on stderr, no traceback), 130 interrupted by Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import FrameType
from typing import Any

from engines.errors import EngineError, EngineUnavailableError
from pipeline.config import load_config
from pipeline.config_schema import VISUALIZE_MODES, Config
from pipeline.errors import PipelineError
from pipeline.pipeline import Pipeline
from pipeline.redact import redact_text, redact_uri
from segcore.errors import UserInputError
from segcore.files import write_json

DEMO_VIDEO = "out/segstream_demo.mp4"
EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

EXAMPLES = """\
examples:
  run_stream.py                                   the bundled model on the built-in synthetic street stream
  run_stream.py clip.mp4 -o out.mp4 --json s.json  segment a file; every frame, in order
  run_stream.py rtsp://user:pass@cam/stream --show a live camera: newest frame wins, drops counted
  run_stream.py cam1.mp4 cam2.mp4 -o 'out/{source}.mp4' --set runtime.batch_size=2
  run_stream.py --config configs/dashcam.yaml --set postprocess.smoothing=majority
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        """One line, no usage block: ``error: ...`` and exit 2, like every other user error."""
        sys.stderr.write(f"error: {message} (see {self.prog} --help)\n")
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="run_stream.py",
        description="Real-time semantic segmentation of video files, cameras and network streams.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("sources", nargs="*", metavar="SOURCE",
        help="video file, image/folder/glob, camera index, rtsp:// http(s):// rtmp:// or synthetic:// URI "
             "(default: the synthetic street stream)")
    add("-o", "--output", metavar="OUT", help="annotated video file (several sources: use {source} in the name)")
    add("--config", metavar="FILE", help="YAML config (see configs/default.yaml for every key)")
    add("--model", metavar="PATH", help="model file (.onnx, .pt, .engine) with its sidecar; default: the bundled model")
    add("--set", metavar="KEY=VALUE", action="append", default=[], help="override any config key, e.g. --set runtime.batch_size=4")
    add("--show", action="store_true", help="show the result in a window")
    add("--visualize", choices=VISUALIZE_MODES, help="overlay, mask, side by side, or none")
    add("--alpha", type=float, metavar="A", help="overlay opacity of the class colours (0..1)")
    add("--max-frames", type=int, metavar="N", help="stop after N frames per source")
    add("--masks", metavar="DIR", help="write a lossless PNG class map per frame into DIR")
    add("--jsonl", metavar="FILE", help="write one JSON record per frame (time, latency, class fractions)")
    add("--json", metavar="STATS.json", help="write the run summary as JSON")
    add("--live", action="store_true", help="treat every source as live: keep the newest frame, drop the rest")
    add("--pace", action="store_true", help="replay files and synthetic streams at their own fps, like a camera")
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def config_from_args(args: argparse.Namespace) -> Config:
    """Config file ← command-line flags ← ``--set`` overrides; the demo output when run bare."""
    flags = {
        "source.uris": args.sources or None,
        "output.video": args.output,
        "model.path": args.model,
        "render.visualize": args.visualize,
        "render.alpha": args.alpha,
        "runtime.max_frames": args.max_frames,
        "output.masks": args.masks,
        "output.jsonl": args.jsonl,
        "output.json": args.json,
        "output.show": True if args.show else None,
        "source.mode": "live" if args.live else None,
        "source.pace": True if args.pace else None,
    }
    values: dict[str, Any] = {key: value for key, value in flags.items() if value is not None}
    overridden = {item.partition("=")[0].strip() for item in args.set}
    if not args.sources and args.config is None and "output.video" not in values and "output.video" not in overridden:
        values["output.video"] = DEMO_VIDEO  # run bare: the demo writes an annotated video
    return load_config(args.config, args.set, values=values)


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


class _Progress:
    def __init__(self, bar: Any) -> None:
        self.bar = bar

    def update(self, pipeline: Pipeline) -> None:
        if self.bar is not None:
            done = pipeline.metrics.frames
            if done > self.bar.n:
                self.bar.update(done - self.bar.n)


def print_status(status: Any) -> None:
    """One stderr line per state change of a live source (called on the source's thread)."""
    from tqdm import tqdm

    stamp = time.strftime("%H:%M:%S")
    reason = f" ({redact_text(status.reason)})" if status.reason else ""
    tqdm.write(f"[{stamp}] {status.source_id}: {status.previous.value} -> {status.state.value}{reason}", file=sys.stderr)


@contextmanager
def progress_bar(pipeline: Pipeline) -> Iterator[_Progress]:
    """A tqdm bar on stderr when the number of frames is known (files), else nothing."""
    total = pipeline.expected_frames()
    bar = None
    if total:
        from tqdm import tqdm

        bar = tqdm(total=total, unit="frame", file=sys.stderr, dynamic_ncols=True, leave=False, disable=None)
    progress = _Progress(bar)
    try:
        yield progress
    finally:
        if bar is not None:
            progress.update(pipeline)
            bar.close()


def report(pipeline: Pipeline, config: Config) -> dict[str, Any]:
    """Print the summary table and the outputs, write ``--json``; return the summary."""
    summary = pipeline.stats()
    summary["config"] = _config_for_report(config)
    print(format_summary(summary))
    written = [(what, path) for what, path in (
        ("video", config.output.video), ("masks", config.output.masks),
        ("jsonl", config.output.jsonl), ("summary", config.output.json)) if path]
    if config.output.json:
        write_json(summary, config.output.json, what="summary")
    for what, path in written:
        print(f"wrote {what}: {path}")
    return summary



def format_summary(s: dict[str, Any]) -> str:
    """The end-of-run table: frames, fps, latency per stage and end to end, drops, accuracy."""
    sources = s.get("sources", {})
    model = s.get("model", {})
    mode = "live" if s.get("live") else "offline"
    lines = [
        f"segstream: {s['frames']} frames from {len(sources)} source{'s' if len(sources) != 1 else ''} in "
        f"{s.get('elapsed_s') or 0:.1f} s: {s['fps']:.1f} fps ({mode}; model {model.get('name')} "
        f"{model.get('input')} on {model.get('device')}, batch {model.get('batch')})",
        "",
        f"  {'latency (ms)':<22}{'p50':>9}{'p95':>9}{'p99':>9}",
    ]
    stages = s.get("stage_latency_ms", {})
    order = ["read", "preprocess", "infer", "postprocess", "render"]
    names = [n for n in order if n in stages] + sorted(n for n in stages if n not in order)
    rows = [(n, stages[n]) for n in names] + [("end to end", s.get("e2e_latency_ms", {}))]
    for name, values in rows:
        lines.append(f"  {name:<22}" + "".join(f"{_ms(values.get(q)):>9}" for q in ("p50", "p95", "p99")))
    lines += ["", f"  {'queue':<22}{'policy':>12}{'capacity':>10}{'max depth':>11}{'dropped':>9}"]
    for name, q in s.get("queues", {}).items():
        lines.append(f"  {name:<22}{q['policy']:>12}{q['capacity']:>10}{q['max_depth']:>11}{q['dropped']:>9}")
    lines.append("")
    for source_id, src in sources.items():
        extra = "".join(
            f", {key} {src[key]}" for key in ("disconnects", "reconnects", "corrupt_frames") if src.get(key)
        )
        miou = f", mIoU {src['miou']:.4f}" if src.get("miou") is not None else ""
        lines.append(
            f"  source {source_id} ({redact_uri(str(src.get('uri', '')))}): {src.get('frames', 0)} frames, "
            f"{src.get('fps', 0):.1f} fps, dropped {src.get('dropped', 0)}, {src.get('state')}{extra}{miou}"
        )
    if s.get("miou") is not None:
        lines.append(f"  streamed mIoU {s['miou']:.4f} over {s.get('labelled_frames', 0)} labelled frames")
    if s.get("error"):
        lines.append(f"  failed: {s['error']}")
    return "\n".join(lines)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _config_for_report(config: Config) -> dict[str, Any]:
    from pipeline.config import to_dict

    data = to_dict(config)
    data["source"]["uris"] = [redact_uri(u) for u in config.source.uris]
    return data


def fail(exc: BaseException) -> int:
    """Report an exception the way its kind deserves and return the exit code."""
    if isinstance(exc, KeyboardInterrupt):
        sys.stderr.write("\ninterrupted\n")
        return EXIT_INTERRUPTED
    if isinstance(exc, (UserInputError, EngineUnavailableError)):
        sys.stderr.write(f"error: {_one_line(exc)}\n")
        return EXIT_USAGE
    if isinstance(exc, (PipelineError, EngineError)):
        sys.stderr.write(f"error: {_one_line(exc)}\n")
        return EXIT_FAILURE
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))  # a bug: show where
    sys.stderr.write(redact_text(text))
    return EXIT_FAILURE


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return redact_text(text)
