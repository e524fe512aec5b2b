"""Soak test: a live 30 fps source through the full pipeline for minutes, watching for slow leaks.

    python -m bench.soak --minutes 10 --model engines/weights/<model>.onnx
    python -m bench.soak --minutes 5 --rtsp-test-server --chaos 60 --out out/soak

Every ``--interval`` seconds it samples the process RSS (psutil), the thread count, every queue's
depth, the frames done and the end-to-end latency of the frames finished in that interval (p50,
p99). It writes ``soak.csv`` (one row per sample) and ``soak.json`` (the summary and the final
pipeline stats) into ``--out`` and prints the summary: RSS growth after the warm-up (total and a
least-squares slope in MB/min), p99 latency per interval after the warm-up (median and worst),
the deepest each queue got, and the source's reconnect counters.

The source is the synthetic street stream paced at its fps like a camera (default), any URI you
give, or, with ``--rtsp-test-server``, the GStreamer RTSP test server from ``tests/rtsp_server.py``
(a development checkout with the apt packages it names). ``--chaos S`` then kills the server every
S seconds and restarts it 2 s later (``--chaos-kind freeze``: stops it with SIGSTOP for 4 s, past
the 2 s stall timeout), so the reconnect path (new captures, abandoned reader threads) is soaked
too: RSS and the thread count must stay flat across outages.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import threading
import time
from typing import Any

import numpy as np
import psutil

from pipeline.config import load_config
from pipeline.config_schema import VISUALIZE_MODES
from pipeline.frame import SegResult
from pipeline.pipeline import Pipeline
from pipeline.sinks.callback import CallbackSink
from pipeline.sources import open_source
from segcore.exits import CommandParser, float_range, int_range, run_command
from segcore.files import check_folder, make_folder

DEFAULT_SOURCE = "synthetic://street?seed=2026&frames=0&size=640x360&fps=30&camera=dashcam"
STALL_S = 2.0
OUTPUT_FOLDER = "output folder (--out)"


class LatencyWindow:
    """End-to-end latencies of the results finished since the last ``take()``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: list[float] = []

    def add(self, result: SegResult) -> None:
        latency = result.latency_ms
        if latency is not None:
            with self._lock:
                self._values.append(latency)

    def take(self) -> list[float]:
        with self._lock:
            values, self._values = self._values, []
        return values


def _chaos(server: Any, kind: str, every_s: float, stop: threading.Event, log: list[dict[str, Any]]) -> None:
    """Every ``every_s``: kill the server and restart it 2 s later, or freeze it past the stall timeout."""
    started = time.monotonic()
    while not stop.wait(every_s):
        down_at = time.monotonic() - started
        if kind == "kill":
            server.kill()
        else:
            server.freeze()
        if stop.wait(2.0 if kind == "kill" else STALL_S + 2.0):
            break
        if kind == "kill":
            server.start()
        else:
            server.thaw()
        log.append(
            {"kind": kind, "down_at_s": round(down_at, 2), "up_at_s": round(time.monotonic() - started, 2)}
        )


def _slope_mb_per_min(times_s: list[float], rss_mb: list[float]) -> float:
    if len(times_s) < 2:
        return 0.0
    slope, _ = np.polyfit(np.asarray(times_s), np.asarray(rss_mb), 1)
    return float(slope) * 60.0


def run(args: argparse.Namespace) -> dict[str, Any]:
    config = load_config(values={
        "source.mode": "live",
        "source.pace": True,
        "source.reconnect.initial_backoff_s": 0.2,
        "source.reconnect.max_backoff_s": 2.0,
        "source.reconnect.stall_timeout_s": STALL_S,
        "render.visualize": args.visualize,
    })
    server = None
    uri = args.source
    if args.rtsp_test_server:
        from tests.rtsp_server import RtspServer  # a development checkout only

        server = RtspServer(width=args.width, height=args.height, fps=30).start()
        uri = server.url
    windows = LatencyWindow()
    source = open_source(uri, source_id="soak", config=config.source)
    pipeline = Pipeline(source, [CallbackSink(windows.add)], model=args.model, config=config)
    process = psutil.Process()
    rows: list[dict[str, Any]] = []
    stop_chaos = threading.Event()
    outages: list[dict[str, Any]] = []
    chaos = None
    pipeline.start()
    started = time.monotonic()
    try:
        if server is not None and args.chaos:
            chaos = threading.Thread(
                target=_chaos, args=(server, args.chaos_kind, args.chaos, stop_chaos, outages), daemon=True
            )
            chaos.start()
        end = started + args.minutes * 60.0
        next_sample = started + args.interval
        while time.monotonic() < end:
            time.sleep(max(0.0, next_sample - time.monotonic()))
            next_sample += args.interval
            stats = pipeline.stats()
            latencies = windows.take()
            row: dict[str, Any] = {
                "t_s": round(time.monotonic() - started, 2),
                "rss_mb": round(process.memory_info().rss / 2**20, 2),
                "threads": threading.active_count(),
                "frames": stats["frames"],
                "fps_recent": stats["fps_recent"],
                "lat_n": len(latencies),
                "lat_p50_ms": round(float(np.percentile(latencies, 50)), 2) if latencies else "",
                "lat_p99_ms": round(float(np.percentile(latencies, 99)), 2) if latencies else "",
                "source_state": stats["sources"]["soak"].get("state", ""),
            }
            row.update({f"depth:{name}": queue["depth"] for name, queue in stats["queues"].items()})
            rows.append(row)
            print(
                f"{row['t_s']:8.1f} s  rss {row['rss_mb']:7.1f} MB  threads {row['threads']:3d}  "
                f"fps {row['fps_recent']:5.1f}  p99 {row['lat_p99_ms'] or '-':>6} ms  {row['source_state']}",
                flush=True,
            )
    finally:
        stop_chaos.set()
        pipeline.stop()
        pipeline.join(10.0)
        if chaos is not None:
            chaos.join(5.0)
        if server is not None:
            server.kill()
    final = pipeline.stats()
    return {"rows": rows, "final": final, "outages": outages, "uri": final["sources"]["soak"]["uri"]}


def summarize(rows: list[dict[str, Any]], final: dict[str, Any], warmup_s: float) -> dict[str, Any]:
    after = [r for r in rows if r["t_s"] >= warmup_s] or rows
    p99s = [float(r["lat_p99_ms"]) for r in after if r["lat_p99_ms"] != ""]
    source = final["sources"]["soak"]
    return {
        "duration_s": rows[-1]["t_s"] if rows else 0.0,
        "warmup_s": warmup_s,
        "frames": final["frames"],
        "rss_mb_at_warmup": after[0]["rss_mb"] if after else None,
        "rss_mb_last": after[-1]["rss_mb"] if after else None,
        "rss_growth_mb": round(after[-1]["rss_mb"] - after[0]["rss_mb"], 2) if after else None,
        "rss_slope_mb_per_min": round(
            _slope_mb_per_min([r["t_s"] for r in after], [r["rss_mb"] for r in after]), 3
        ),
        "threads_min_max": [min(r["threads"] for r in after), max(r["threads"] for r in after)]
        if after
        else None,
        "p99_ms_median_interval": round(statistics.median(p99s), 2) if p99s else None,
        "p99_ms_worst_interval": round(max(p99s), 2) if p99s else None,
        "e2e_latency_ms_overall": final.get("e2e_latency_ms"),
        "max_queue_depth": {name: q["max_depth"] for name, q in final["queues"].items()},
        "source": {
            key: source.get(key)
            for key in (
                "state",
                "disconnects",
                "stalls",
                "reconnects",
                "downtime_s",
                "abandoned_total",
                "abandoned_readers",
                "dropped",
            )
            if key in source
        },
    }


def main(argv: list[str] | None = None) -> int:
    return run_command(_main, argv)


def _main(argv: list[str]) -> int:
    parser = CommandParser(prog="python -m bench.soak", description=__doc__.splitlines()[0])
    parser.add_argument(
        "source", nargs="?", default=DEFAULT_SOURCE, help="source URI (default: paced synthetic)"
    )
    parser.add_argument("--model", help="model file (default: the bundled model)")
    parser.add_argument("--minutes", type=float_range(0, above=True), default=10.0)
    parser.add_argument("--interval", type=float_range(0, above=True), default=1.0, help="seconds between samples")
    parser.add_argument(
        "--warmup", type=float_range(0), default=None, help="seconds left out of the trends (default 10%%)"
    )
    parser.add_argument("--visualize", default="overlay", choices=VISUALIZE_MODES)
    parser.add_argument(
        "--rtsp-test-server", action="store_true", help="stream from the GStreamer test server"
    )
    parser.add_argument("--width", type=int_range(16, 7680), default=640, help="test server frame width")
    parser.add_argument("--height", type=int_range(16, 4320), default=360, help="test server frame height")
    parser.add_argument(
        "--chaos", type=float_range(0), default=0.0, help="break the test server every S seconds (0: never)"
    )
    parser.add_argument(
        "--chaos-kind",
        default="kill",
        choices=["kill", "freeze"],
        help="kill+restart, or freeze (SIGSTOP) for 4 s",
    )
    parser.add_argument("--out", default="out/soak", help="folder for soak.csv and soak.json")
    args = parser.parse_args(argv)
    out = check_folder(args.out, OUTPUT_FOLDER)  # now, not after the soak's minutes
    result = run(args)
    warmup = args.warmup if args.warmup is not None else 0.1 * args.minutes * 60.0
    summary = summarize(result["rows"], result["final"], warmup)
    summary["uri"] = result["uri"]
    summary["outages"] = result["outages"]
    make_folder(out, OUTPUT_FOLDER)
    rows = result["rows"]
    if rows:
        fields = list(dict.fromkeys(key for row in rows for key in row))
        with open(out / "soak.csv", "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=fields)
            writer.writeheader()
            writer.writerows(rows)
    (out / "soak.json").write_text(
        json.dumps({"summary": summary, "final": result["final"]}, indent=2, default=str)
    )
    print(json.dumps(summary, indent=2, default=str))
    print(f"wrote {out / 'soak.csv'} and {out / 'soak.json'}" if rows else f"wrote {out / 'soak.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
