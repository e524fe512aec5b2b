"""python -m bench.serve: what serving costs the pipeline, and what /v1/segment costs a client.

    python -m bench.serve [--quick] [--model M] [--json out/bench/serve.json]

1. Viewers. For 0, 1, 10 and 50 MJPEG viewers (raw sockets, in a process of their own, on
   127.0.0.1): the pipeline's fps over a fixed window once every viewer is connected, this
   process's CPU (pipeline + server) and the viewers' own, and the latency viewing adds (a part's
   arrival minus the time its frame left the pipeline). Two sources: a 1280×720 street replayed
   as fast as the pipeline goes (offline: every spare cycle is throughput, so any cost shows), and
   a 640×360 street paced at 15 fps like a camera (live: the cost shows as CPU, not fps).
2. The page: seconds from opening ``/`` in headless Chromium (Debian's, through Playwright) until
   its first tile shows a frame, over several loads (skipped when either is missing).
3. ``POST /v1/segment`` with a 1280×720 JPEG from 1, 4 and 16 concurrent clients, p50/p99, against
   the same work in this process (decode, ``Segmenter.segment``, PNG encode) one call at a time.

Every number of one run is measured side by side on the same machine; compare within a run only.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from bench.machine import machine_info
from bench.timing import machine_busy_s
from pipeline import Pipeline, Segmenter, load_config
from segcore.exits import CommandParser, run_command
from serve import Server

VIEWER_COUNTS = (0, 1, 10, 50)
SEGMENT_CLIENTS = (1, 4, 16)
VARIANTS = {  # name → (source URI, settings)
    "offline 1280x720": ("synthetic://street?frames=300&size=1280x720&seed=5", ["source.loop=true"]),
    "live 640x360 @15 fps": ("synthetic://street?frames=300&size=640x360&seed=5&fps=15",
                             ["source.loop=true", "source.pace=true"]),
}


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _percentiles(values: Sequence[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p99": None}
    return {"p50": round(float(np.percentile(values, 50)), 1), "p99": round(float(np.percentile(values, 99)), 1)}


def _median_or_none(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(float(np.median(known)), 2) if known else None


def _clients(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "bench.serve_clients", *args], stdout=subprocess.PIPE, text=True)


def _started(uri: str, settings: Sequence[str], model: Path | None) -> tuple[Pipeline, Server]:
    overrides = ["serve.port=0", *settings] + ([f"model.path={model}"] if model else [])
    config = load_config(None, overrides, values={"source.uris": [uri]})
    server = Server(config)
    pipeline = Pipeline.from_config(config, sinks=[server.sink])
    pipeline.start()
    server.start(pipeline)
    return pipeline, server


def _stop(pipeline: Pipeline, server: Server) -> None:
    pipeline.stop(drain=False)
    try:
        pipeline.join(timeout=30)
    finally:
        server.close()


def _window(pipeline: Pipeline, server: Server, viewers: int, window_s: float) -> dict[str, Any]:
    """One measurement on a running pipeline with ``viewers`` connected for the whole window."""
    clients = _clients("mjpeg", f"{server.url}stream/street.mjpg", str(viewers), str(window_s + 3.0)) if viewers else None
    deadline = time.monotonic() + 20
    while server.hub.total_viewers() < viewers and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    busy0 = machine_busy_s()
    frames0, cpu0, t0, encodes0 = pipeline.metrics.frames, _cpu_s(), time.monotonic(), sum(server.hub.encodes().values())
    time.sleep(window_s)
    frames1, cpu1, t1, encodes1 = pipeline.metrics.frames, _cpu_s(), time.monotonic(), sum(server.hub.encodes().values())
    busy1 = machine_busy_s()
    seen: dict[str, Any] = json.loads(clients.communicate(timeout=window_s + 60)[0]) if clients is not None else {}
    while server.hub.total_viewers():  # the next window starts without them
        time.sleep(0.05)
    span = t1 - t0
    viewers_cpu = seen.get("cpu_s", 0.0) * span / (window_s + 3.0)  # their share of this window
    others = None if busy0 is None or busy1 is None else max(0.0, (busy1 - busy0) - (cpu1 - cpu0) - viewers_cpu) / span
    return {"fps": (frames1 - frames0) / span, "cpu": 100 * (cpu1 - cpu0) / span, "jpegs": (encodes1 - encodes0) / span,
            "other_cores": others,
            "viewer_cpu": 100 * seen.get("cpu_s", 0.0) / (window_s + 3.0), "parts": seen.get("parts", []),
            "latency": seen.get("latency_ms", [])}


def viewers_rounds(uri: str, settings: Sequence[str], window_s: float, repeats: int, model: Path | None,
                   progress: Callable[[str], None]) -> list[dict[str, Any]]:
    """One pipeline; windows of 0, 1, 10, 50 viewers, then back down, ``repeats`` times (so slow
    drifts of the shared machine's load fall on every count alike); medians per count."""
    order = [*VIEWER_COUNTS, *reversed(VIEWER_COUNTS)] * repeats
    windows: dict[int, list[dict[str, Any]]] = {count: [] for count in VIEWER_COUNTS}
    pipeline, server = _started(uri, settings, model)
    try:
        time.sleep(2.0)  # warm: the engine's first calls, the caches
        for count in order:
            windows[count].append(_window(pipeline, server, count, window_s))
            last = windows[count][-1]
            progress(f"  {count} viewers: {last['fps']:.2f} fps, {last['cpu']:.0f} % CPU (other processes: "
                     f"{last['other_cores'] if last['other_cores'] is None else round(last['other_cores'], 2)} cores)")
    finally:
        _stop(pipeline, server)
    rows = []
    for count, found in windows.items():
        latency = [ms for w in found for ms in w["latency"]]
        parts = [p for w in found for p in w["parts"]]
        rows.append({
            "viewers": count, "windows": len(found),
            "fps": round(float(np.median([w["fps"] for w in found])), 2),
            "fps_each": [round(w["fps"], 2) for w in found],
            "server_cpu_pct": round(float(np.median([w["cpu"] for w in found])), 1),
            # CPU per frame holds steadier than fps on a machine whose other processes take cores away
            "cpu_ms_per_frame": round(float(np.median([10 * w["cpu"] / w["fps"] for w in found if w["fps"] > 0] or [0.0])), 1),
            "jpegs_per_s": round(float(np.median([w["jpegs"] for w in found])), 2),
            "viewer_cpu_pct": round(float(np.median([w["viewer_cpu"] for w in found])), 1),
            "parts_per_viewer_per_s": round(float(np.median(parts)) / (window_s + 3.0), 2) if parts else 0.0,
            "viewer_latency_ms": _percentiles(latency),
            "other_processes_cores": _median_or_none([w["other_cores"] for w in found]),
        })
    return rows


def segment_rounds(model: Path | None, image_path: Path, requests: int) -> dict[str, Any]:
    jpeg = image_path.read_bytes()
    if cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR) is None:
        raise ValueError(f"{image_path} is not an image OpenCV can decode")
    in_process = []
    with Segmenter.from_model(model) as segmenter:
        for i in range(requests + 3):
            t0 = time.perf_counter()
            image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
            cv2.imencode(".png", segmenter.segment(image).class_map)  # type: ignore[arg-type]  # checked above
            if i >= 3:  # the first calls warm the engine
                in_process.append((time.perf_counter() - t0) * 1000.0)
    light = ("synthetic://street?size=320x180&fps=5&seed=5&frames=100", ["source.loop=true", "source.pace=true"])
    pipeline, server = _started(light[0], light[1], model)
    rows = []
    try:
        url = f"{server.url}v1/segment"
        _clients("segment", url, str(image_path), "1", "3").communicate(timeout=300)  # warm the server's engine
        for clients in SEGMENT_CLIENTS:
            out, _ = _clients("segment", url, str(image_path), str(clients), str(max(requests, 2 * clients))).communicate(timeout=600)
            seen = json.loads(out)
            rows.append({"clients": clients, **_percentiles(seen["latency_ms"]), "errors": len(seen["errors"]),
                         "requests_per_s": round(len(seen["latency_ms"]) / seen["wall_s"], 2)})
    finally:
        _stop(pipeline, server)
    return {"in_process_ms": _percentiles(in_process), "http": rows}


def viewers_alone(counts: Sequence[int], window_s: float, image: np.ndarray) -> list[dict[str, Any]]:
    """The server's CPU for N viewers with no pipeline beside it: the hub fed one 1280×720 picture
    at 15 fps (each a new frame), the real MJPEG route, viewers in their own process."""
    import threading

    from fastapi import FastAPI

    from serve.app import MjpegParts
    from serve.hub import FrameHub
    from serve.server import bind, serve_in_thread, stop_thread

    hub = FrameHub(stream_fps=15, placeholder_after_s=5.0)
    hub.open([("street", (image.shape[1], image.shape[0]))])
    parts, app = MjpegParts(hub), FastAPI()
    app.get("/stream/{source_id}.mjpg", response_model=None)(parts.response)
    sock = bind("127.0.0.1", 0)
    server, thread = serve_in_thread(app, sock, hub)
    stop = threading.Event()

    def feed() -> None:
        while not stop.wait(1 / 15):
            hub.publish("street", image.copy(), None)

    feeder = threading.Thread(target=feed, name="bench-feed", daemon=True)
    feeder.start()
    rows = []
    try:
        for count in counts:
            url = f"http://127.0.0.1:{sock.getsockname()[1]}/stream/street.mjpg"
            clients = _clients("mjpeg", url, str(count), str(window_s + 3.0)) if count else None
            while hub.total_viewers() < count:
                time.sleep(0.05)
            time.sleep(0.5)
            cpu0, t0 = _cpu_s(), time.monotonic()
            time.sleep(window_s)
            cpu1, t1 = _cpu_s(), time.monotonic()
            seen = json.loads(clients.communicate(timeout=window_s + 60)[0]) if clients is not None else {}
            while hub.total_viewers():
                time.sleep(0.05)
            rows.append({"viewers": count, "server_cpu_pct": round(100 * (cpu1 - cpu0) / (t1 - t0), 1),
                         "viewer_latency_ms": _percentiles(seen.get("latency_ms", []))})
    finally:
        stop.set()
        hub.close()
        stop_thread(server, thread)
        sock.close()
    return rows


def page_first_frame(model: Path | None, loads: int) -> dict[str, Any]:
    """Seconds from opening the page in headless Chromium (Debian's, through Playwright) until its
    first tile shows a frame; None when either is missing here."""
    import shutil

    chromium = shutil.which("chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        chromium = None
    if chromium is None:
        return {"first_frame_s": None, "why": "needs playwright and Debian's chromium"}
    uri, settings = VARIANTS["live 640x360 @15 fps"]
    pipeline, server = _started(uri, settings, model)
    times = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
            for _ in range(loads):
                page = browser.new_page()
                t0 = time.monotonic()
                page.goto(server.url)
                page.wait_for_function("() => { const i = document.querySelector('.tile img');"
                                       " return i && i.naturalWidth > 0; }", timeout=30_000)
                times.append(time.monotonic() - t0)
                page.close()
                time.sleep(1.5)  # the stream has no viewer again before the next load
            browser.close()
    finally:
        _stop(pipeline, server)
    return {"first_frame_s": {"median": round(float(np.median(times)), 3), "max": round(max(times), 3)}, "loads": loads}


def run(model: Path | None, quick: bool, progress: Callable[[str], None]) -> dict[str, Any]:
    window, repeats = (5.0, 1) if quick else (8.0, 2)
    result: dict[str, Any] = {"machine": machine_info(), "window_s": window, "viewers": {}}
    for name, (uri, settings) in VARIANTS.items():
        progress(name)
        result["viewers"][name] = viewers_rounds(uri, settings, window, repeats, model, progress)
    from streetsim import StreetScene, SyntheticSpec

    street = StreetScene(SyntheticSpec.from_uri("synthetic://street?seed=99&frames=2")).render(1)[0]
    result["alone"] = viewers_alone(VIEWER_COUNTS, window, street)
    progress(f"alone: {json.dumps(result['alone'])}")
    result["page"] = page_first_frame(model, 3 if quick else 8)
    progress(f"page: {json.dumps(result['page'])}")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "street.jpg"
        cv2.imwrite(str(path), street)
        result["segment"] = segment_rounds(model, path, 10 if quick else 40)
    progress(f"segment: {json.dumps(result['segment'])}")
    return result


def markdown(result: dict[str, Any]) -> str:
    lines = []
    for name, rows in result["viewers"].items():
        base = rows[0]["fps"] or 1.0
        base_cpu = rows[0].get("cpu_ms_per_frame", 0.0)
        lines += [f"**{name}** (median of {rows[0]['windows']} windows of {result['window_s']:.0f} s per row, "
                  "interleaved on one running pipeline)", "",
                  "| viewers | pipeline fps | vs 0 viewers | process CPU % | CPU ms per frame (vs 0) | JPEGs/s "
                  "| viewers' CPU % | viewer latency p50 / p99 ms | other processes (cores) |",
                  "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for row in rows:
            latency = row["viewer_latency_ms"]
            per_frame = row.get("cpu_ms_per_frame", 0.0)
            lines.append(f"| {row['viewers']} | {row['fps']} | {100 * row['fps'] / base - 100:+.1f} % | {row['server_cpu_pct']} "
                         f"| {per_frame} ({per_frame - base_cpu:+.1f}) "
                         f"| {row['jpegs_per_s']} | {row['viewer_cpu_pct']} | {latency['p50']} / {latency['p99']} "
                         f"| {row.get('other_processes_cores')} |")
        lines.append("")
    alone = result.get("alone")
    if alone:
        one = next((row["server_cpu_pct"] for row in alone if row["viewers"] == 1), 0.0)
        lines += ["**The server alone** (no pipeline: one 1280x720 picture published 15 times a second, the "
                  "real MJPEG route; CPU % of one core)", "",
                  "| viewers | server CPU % | per viewer beyond the first | viewer latency p50 / p99 ms |",
                  "|---:|---:|---:|---:|"]
        for row in alone:
            extra = (row["server_cpu_pct"] - one) / (row["viewers"] - 1) if row["viewers"] > 1 else None
            latency = row["viewer_latency_ms"]
            lines.append(f"| {row['viewers']} | {row['server_cpu_pct']} | {'' if extra is None else f'{extra:.3f}'} "
                         f"| {latency['p50']} / {latency['p99']} |")
        lines.append("")
    page = result.get("page", {}).get("first_frame_s")
    if page:
        lines += [f"**The page**: first frame in its first tile {page['median']} s after opening it (median of "
                  f"{result['page']['loads']} loads in headless Chromium; slowest {page['max']} s)", ""]
    segment = result["segment"]
    lines += [f"**POST /v1/segment**, 1280x720 JPEG → PNG class map; in process (decode, segment, PNG): "
              f"p50 {segment['in_process_ms']['p50']} ms, p99 {segment['in_process_ms']['p99']} ms", "",
              "| concurrent clients | p50 ms | p99 ms | requests/s | errors |", "|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['clients']} | {r['p50']} | {r['p99']} | {r['requests_per_s']} | {r['errors']} |" for r in segment["http"]]
    return "\n".join(lines) + "\n"


def _main(argv: list[str]) -> int:
    parser = CommandParser(prog="python -m bench.serve", description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter windows and fewer requests")
    parser.add_argument("--model", type=Path, help="model file (default: the bundled model)")
    parser.add_argument("--json", type=Path, default=Path("out/bench/serve.json"), help="where to write the results")
    args = parser.parse_args(argv)
    result = run(args.model, args.quick, lambda line: print(line, flush=True))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    table = markdown(result)
    args.json.with_suffix(".md").write_text(table)
    print(table)
    print(f"wrote {args.json} and {args.json.with_suffix('.md')}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_command(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
