"""The clients of the serve benchmark, run in their own process so that their CPU is not the server's.

    python -m bench.serve_clients mjpeg URL VIEWERS SECONDS    N raw-socket MJPEG viewers
    python -m bench.serve_clients segment URL IMAGE CLIENTS REQUESTS   concurrent POST /v1/segment

Each prints one JSON object: what it received, the latencies it saw (ms) and its own CPU time.
MJPEG latency is the part's arrival minus its ``X-Published`` header (the monotonic time the
frame left the pipeline: one clock, on one machine), so it is what viewing adds.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import threading
import time
from urllib.parse import urlsplit

import httpx


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _viewer(host: str, port: int, path: str, until: float, latencies: list[float], counts: list[int]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
    await writer.drain()
    buffer = b""
    parts = 0
    try:
        while time.monotonic() < until:
            try:
                chunk = await asyncio.wait_for(reader.read(1 << 20), max(0.01, until - time.monotonic()))
            except asyncio.TimeoutError:
                break
            if not chunk:
                break
            arrived = time.monotonic()
            buffer += chunk
            while True:  # HTTP/1.0: no chunked encoding, the body is the multipart stream itself
                end = buffer.find(b"\r\n\r\n")
                if end < 0:
                    break
                fields = dict(line.split(b": ", 1) for line in buffer[:end].split(b"\r\n") if b": " in line)
                length = int(fields.get(b"Content-Length", b"0")) if b"X-Published" in fields else 0
                if len(buffer) < end + 4 + length:
                    break
                if b"X-Published" in fields:
                    latencies.append((arrived - float(fields[b"X-Published"])) * 1000.0)
                    parts += 1
                buffer = buffer[end + 4 + length :]
    finally:
        counts.append(parts)
        writer.close()


async def _mjpeg(url: str, viewers: int, seconds: float) -> dict[str, object]:
    parts = urlsplit(url)
    until = time.monotonic() + seconds
    latencies: list[float] = []
    counts: list[int] = []
    await asyncio.gather(*(
        _viewer(parts.hostname or "127.0.0.1", parts.port or 80, parts.path, until, latencies, counts)
        for _ in range(viewers)
    ))
    return {"viewers": viewers, "parts": counts, "latency_ms": latencies}


def _segment(url: str, image: bytes, clients: int, requests: int) -> dict[str, object]:
    latencies: list[float] = []
    errors: list[int] = []
    lock = threading.Lock()
    left = [requests]

    def work() -> None:
        with httpx.Client(timeout=120.0) as client:
            while True:
                with lock:
                    if left[0] <= 0:
                        return
                    left[0] -= 1
                t0 = time.perf_counter()
                reply = client.post(url, content=image)
                ms = (time.perf_counter() - t0) * 1000.0
                with lock:
                    if reply.status_code == 200:
                        latencies.append(ms)
                    else:
                        errors.append(reply.status_code)

    started = time.perf_counter()
    threads = [threading.Thread(target=work) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"clients": clients, "latency_ms": latencies, "errors": errors, "wall_s": time.perf_counter() - started}


def main(argv: list[str]) -> int:
    kind = argv[0]
    if kind == "mjpeg":
        result = asyncio.run(_mjpeg(argv[1], int(argv[2]), float(argv[3])))
    elif kind == "segment":
        with open(argv[2], "rb") as handle:
            result = _segment(argv[1], handle.read(), int(argv[3]), int(argv[4]))
    else:
        raise SystemExit(f"unknown client kind {kind!r}; mjpeg or segment")
    result["cpu_s"] = _cpu_s()
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
