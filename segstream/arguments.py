"""The run's command line: arguments → a checked config (defaults ← --config ← flags ← --set)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from typing import Any

from pipeline.config import load_config
from pipeline.config_schema import VISUALIZE_MODES, Config
from segcore.errors import ConfigError
from segcore.exits import CommandParser
from segcore.redact import redact_uri
from segstream.model_names import resolve_named_model

DEMO_VIDEO = "out/segstream_demo.mp4"

EXAMPLES = """\
examples:
  run_stream.py                                   the bundled model on the built-in synthetic street stream
  run_stream.py clip.mp4 -o out.mp4 --json s.json  segment a file; every frame, in order
  run_stream.py rtsp://user:pass@cam/stream --show a live camera: newest frame wins, drops counted
  run_stream.py cam1.mp4 cam2.mp4 -o 'out/{source}.mp4' --set runtime.batch_size=2
  run_stream.py --config configs/dashcam.yaml --set postprocess.smoothing=majority
"""


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(  # one-line usage errors, and --debug
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
    add("--model", metavar="PATH", help="model file (.onnx, .pt, .engine), with or without a sidecar, torchvision:NAME "
                                        "fetched by `segstream fetch`, or a served model triton://HOST:PORT/MODEL[/VERSION]; "
                                        "default: the bundled model")
    add("--labels", metavar="FILE", help="class names of the model, one per line (model.labels)")
    add("--colors", metavar="FILE", help="class colours of the model, one 'R G B' per line (model.colors)")
    add("--set", metavar="KEY=VALUE", action="append", default=[], help="override any config key, e.g. --set runtime.batch_size=4")
    add("--show", action="store_true", help="show the result in a window")
    add("--visualize", choices=VISUALIZE_MODES, help="overlay, mask, side by side, or none")
    add("--alpha", type=float, metavar="A", help="overlay opacity of the class colours (0..1)")
    add("--max-frames", type=int, metavar="N", help="stop after N frames per source")
    add("--masks", metavar="DIR", help="write a lossless PNG class map per frame into DIR")
    add("--jsonl", metavar="FILE", help="write one JSON record per frame (time, latency, class fractions)")
    add("--json", metavar="STATS.json", help="write the run summary as JSON")
    add("--live", action="store_true", help="treat every source as live: keep the newest frame, drop the rest")
    add("--mqtt", metavar="mqtt://HOST[:PORT][/PREFIX]", help="publish zone events to an MQTT broker (needs zones in the config)")
    add("--webhook", metavar="URL", help="POST zone events as JSON to URL (needs zones in the config)")
    add("--restream", metavar="rtsp://HOST:PORT/PATH",
        help="serve the annotated stream as H.264 over RTSP (GStreamer's RTSP server; several sources: PATH/SOURCE)")
    add("--pace", action="store_true", help="replay files and synthetic streams at their own fps, like a camera")
    add("--serve", metavar="[HOST:]PORT", help="serve the live page, MJPEG streams, /metrics and POST /v1/segment "
                                                 "over HTTP (default host 127.0.0.1; port 0: a free one)")
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def parse_serve_address(text: str) -> tuple[str, int]:
    """``--serve`` → (host, port): ``8080``, ``:8080``, ``0.0.0.0:8080``, ``[::1]:8080``."""
    host, sep, port = text.strip().rpartition(":")
    if not sep:
        host = ""
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit() or int(port) > 65535 or not host or any(c in host for c in "/ @"):
        raise ConfigError(f"--serve {text}: expected [HOST:]PORT with a port in 0..65535, e.g. --serve 127.0.0.1:8080")
    return host, int(port)


def config_from_args(args: argparse.Namespace) -> Config:
    """Config file ← command-line flags ← ``--set`` overrides; the demo output when run bare."""
    flags = {  # config key → (value, the flag as typed, for error messages)
        "source.uris": (args.sources or None, "SOURCE"),
        "output.video": (args.output, "-o"),
        "model.path": (args.model, "--model"),
        "model.labels": (args.labels, "--labels"),
        "model.colors": (args.colors, "--colors"),
        "render.visualize": (args.visualize, "--visualize"),
        "render.alpha": (args.alpha, "--alpha"),
        "runtime.max_frames": (args.max_frames, "--max-frames"),
        "output.masks": (args.masks, "--masks"),
        "output.jsonl": (args.jsonl, "--jsonl"),
        "output.json": (args.json, "--json"),
        "output.show": (True if args.show else None, "--show"),
        "source.mode": ("live" if args.live else None, "--live"),
        "source.pace": (True if args.pace else None, "--pace"),
        "events.mqtt": (args.mqtt, "--mqtt"),
        "events.webhook": (args.webhook, "--webhook"),
        "restream.url": (args.restream, "--restream"),
    }
    if args.serve is not None:
        host, port = parse_serve_address(args.serve)
        flags["serve.host"], flags["serve.port"] = (host, "--serve"), (port, "--serve")
    values: dict[str, Any] = {key: value for key, (value, _) in flags.items() if value is not None}
    origins = {key: f"{flag} {redact_uri(str(values[key]))}" if not isinstance(values[key], bool) else flag
               for key, (_, flag) in flags.items() if key in values}
    overridden = {item.partition("=")[0].strip() for item in args.set}
    if not args.sources and args.config is None and "output.video" not in values and "output.video" not in overridden:
        values["output.video"] = DEMO_VIDEO  # run bare: the demo writes an annotated video
    config = load_config(args.config, args.set, values=values, value_origins=origins)
    return resolve_named_model(config, os.environ)  # --model torchvision:NAME: the fetched model in the cache
