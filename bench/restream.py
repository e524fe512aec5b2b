"""What ``--restream`` costs: the RTSP server's CPU and the sink's time per frame, by viewer count.

    python -m bench.restream                     # 1280x720 at 30 fps, 0, 1 and 4 viewers, 10 s each
    python -m bench.restream --viewers 0 1 8 --seconds 20 --size 1920x1080

Frames of the synthetic street (rendered once, then cycled) go into a ``RestreamSink`` at the
given rate for each viewer count in turn; the viewers are OpenCV (FFmpeg) RTSP clients on
127.0.0.1, each reading on a thread of this process. Per count it prints the server process's
CPU (% of one core, psutil), the sink's ``write`` time per frame (p50, p99: what the pipeline's
sink thread spends), the frames the sink dropped and the frames each viewer received per second.
The encoder runs once per stream however many watch, so its CPU should not grow with viewers
beyond the RTP sending.
"""

from __future__ import annotations

import statistics
import threading
import time

import cv2
import numpy as np
import psutil

from pipeline.frame import Frame, SegResult
from pipeline.sinks.restream import RestreamSink
from pipeline.sources.base import SourceInfo
from segcore.exits import CommandParser, float_range, int_range, run_command
from segcore.sizes import wh_argument


def main(argv: list[str] | None = None) -> int:
    return run_command(_main, argv)


def _main(argv: list[str]) -> int:
    parser = CommandParser(prog="python -m bench.restream", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--viewers", nargs="+", type=int_range(0, 64), default=[0, 1, 4])
    parser.add_argument("--seconds", type=float_range(1, 600), default=10.0, help="per viewer count")
    parser.add_argument("--size", type=wh_argument, default=(1280, 720), help="WIDTHxHEIGHT of the frames")
    parser.add_argument("--fps", type=float_range(1, 240), default=30.0)
    parser.add_argument("--port", type=int_range(1024, 65535), default=18554)
    args = parser.parse_args(argv)
    width, height = args.size
    from streetsim import StreetScene, SyntheticSpec

    scene = StreetScene(SyntheticSpec(seed=7, width=width, height=height))
    images = [scene.render(i)[0] for i in range(30)]
    print(f"restream {width}x{height} at {args.fps:g} fps, {args.seconds:g} s per viewer count")
    print("viewers  server CPU %  write ms p50  p99  dropped  fps per viewer")
    for count in args.viewers:
        row = _measure(images, count, args.seconds, args.fps, args.port)
        print(f"{count:7d}  {row['cpu']:12.0f}  {row['p50']:12.2f}  {row['p99']:4.2f}  {row['dropped']:7d}  "
              f"{' '.join(f'{v:.1f}' for v in row['viewer_fps']) or '-'}")
    return 0


def _measure(images: list[np.ndarray], viewers: int, seconds: float, fps: float, port: int) -> dict:
    height, width = images[0].shape[:2]
    sink = RestreamSink(f"rtsp://127.0.0.1:{port}/bench")
    sink.open({"bench": SourceInfo("bench://", width, height, fps, None, True)})
    stop = threading.Event()
    received = [0] * viewers
    times: list[float] = []
    feeder = threading.Thread(target=_feed, args=(sink, images, fps, stop, times), daemon=True)
    feeder.start()
    readers = [threading.Thread(target=_view, args=(sink.urls()["bench"], received, i, stop), daemon=True)
               for i in range(viewers)]
    for reader in readers:
        reader.start()
    time.sleep(2.0)  # viewers connect, the encoder starts
    server = psutil.Process(sink._process.pid)  # type: ignore[union-attr]
    server.cpu_percent(None)
    start_counts = list(received)
    times.clear()
    time.sleep(seconds)
    cpu = server.cpu_percent(None)
    got = [(received[i] - start_counts[i]) / seconds for i in range(viewers)]
    stop.set()
    feeder.join()
    for reader in readers:
        reader.join(10)
    sink.close()
    ordered = sorted(times) or [0.0]
    return {"cpu": cpu, "p50": statistics.median(ordered), "p99": ordered[int(0.99 * (len(ordered) - 1))],
            "dropped": sink.stats()["dropped"], "viewer_fps": got}


def _feed(sink: RestreamSink, images: list[np.ndarray], fps: float, stop: threading.Event, times: list[float]) -> None:
    index = 0
    next_at = time.monotonic()
    while not stop.is_set():
        image = images[index % len(images)]
        result = SegResult(Frame(image, "bench", index, index / fps, time.monotonic()),
                           np.zeros(image.shape[:2], np.uint8), np.zeros(1, np.float32), rendered=image)
        t0 = time.perf_counter()
        sink.write(result)
        times.append((time.perf_counter() - t0) * 1000.0)
        index += 1
        next_at += 1.0 / fps
        time.sleep(max(0.0, next_at - time.monotonic()))


def _view(url: str, received: list[int], slot: int, stop: threading.Event) -> None:
    cap = cv2.VideoCapture(url, cv2.CAP_FFMPEG, [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, 10000,
                                                 cv2.CAP_PROP_READ_TIMEOUT_MSEC, 5000])
    while cap.isOpened() and not stop.is_set():
        ok, _ = cap.read()
        if not ok:
            break
        received[slot] += 1
    cap.release()


if __name__ == "__main__":
    raise SystemExit(main())
