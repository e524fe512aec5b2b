"""``POST /v1/segment``: one image in, its class map out, on engines of its own.

The server's engines are not the pipeline's: ``segment_workers`` ``Segmenter`` instances (each its
own engine, the pipeline's model, backend and resize mode), each running one request at a time on
a worker thread, so a request never waits behind the streams' frames nor slows them beyond the
CPU it takes. At most ``segment_queue`` requests wait; more are refused at once (503) instead of
piling up. Bodies are read up to ``max_upload_bytes`` and decoded with OpenCV; what is not an
image is refused (415) before any engine sees it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import queue
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np

from pipeline import Segmenter
from pipeline.config_schema import Config
from pipeline.stages.render import Colorizer, blend

FORMATS = ("png", "json", "overlay")
MAX_PIXELS = 8192 * 8192  # the largest frame any part of segstream takes


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    media_type: str


def error(status: int, message: str) -> Reply:
    return Reply(status, json.dumps({"error": message}).encode(), "application/json")


class SegmentService:
    """Segments request bodies on ``workers`` engines; ``close()`` frees them."""

    def __init__(self, config: Config) -> None:
        serve, model = config.serve, config.model
        self.max_upload_bytes = serve.max_upload_bytes
        self.alpha = config.render.alpha
        self.limit = serve.segment_workers + serve.segment_queue  # running + waiting
        self._pending = 0
        self._lock = threading.Lock()
        self._segmenters: queue.SimpleQueue[Segmenter] = queue.SimpleQueue()
        self._all: list[Segmenter] = []
        for _ in range(serve.segment_workers):
            segmenter = Segmenter.from_model(
                model.path, backend=model.backend, device=model.device, threads=model.threads or None,
                resize=config.preprocess.resize, **dict(model.options),
            )
            self._all.append(segmenter)
            self._segmenters.put(segmenter)
        self.class_names = self._all[0].class_names
        self.colorize = Colorizer(self._all[0].palette)
        self._pool = ThreadPoolExecutor(serve.segment_workers, thread_name_prefix="serve-segment")
        started = threading.Barrier(serve.segment_workers + 1)
        for _ in range(serve.segment_workers):  # every worker now, from this thread: the pipeline's priority
            self._pool.submit(started.wait, 10.0)
        with contextlib.suppress(threading.BrokenBarrierError):  # a worker late to start is started on demand
            started.wait(10.0)

    async def handle(self, body: bytes, fmt: str) -> Reply:
        if fmt not in FORMATS:
            return error(422, f"format {fmt!r} is not one of {', '.join(FORMATS)}")
        if not body:
            return error(400, "the request body is empty; send the image's bytes (JPEG, PNG, BMP, WebP, TIFF)")
        if len(body) > self.max_upload_bytes:
            return error(413, f"the body has {len(body)} bytes, more than serve.max_upload_bytes ({self.max_upload_bytes})")
        with self._lock:
            if self._pending >= self.limit:
                return error(503, f"{self._pending} segment requests are running or waiting (serve.segment_workers "
                                  f"+ serve.segment_queue); retry later")
            self._pending += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, self._run, body, fmt)
        finally:
            with self._lock:
                self._pending -= 1

    def _run(self, body: bytes, fmt: str) -> Reply:
        data = np.frombuffer(body, dtype=np.uint8)
        image = cv2.imdecode(data, cv2.IMREAD_COLOR)
        if image is None or image.ndim != 3 or image.shape[2] != 3:
            return error(415, "the body is not an image OpenCV can decode (JPEG, PNG, BMP, WebP, TIFF)")
        if image.shape[0] * image.shape[1] > MAX_PIXELS:
            return error(413, f"the image is {image.shape[1]}x{image.shape[0]}; at most 8192x8192 pixels")
        segmenter = self._segmenters.get()
        try:
            result = segmenter.segment(image)
        finally:
            self._segmenters.put(segmenter)
        if fmt == "json":
            fractions = {name: round(float(v), 6) for name, v in zip(self.class_names, result.fractions, strict=True)}
            payload = {"width": image.shape[1], "height": image.shape[0], "fractions": fractions}
            return Reply(200, json.dumps(payload).encode(), "application/json")
        if fmt == "overlay":
            _, encoded = cv2.imencode(".jpg", blend(image, self.colorize(result.class_map), self.alpha))
            return Reply(200, encoded.tobytes(), "image/jpeg")
        _, encoded = cv2.imencode(".png", result.class_map)  # 8-bit grey: each pixel is its class id
        return Reply(200, encoded.tobytes(), "image/png")

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        for segmenter in self._all:
            segmenter.close()
