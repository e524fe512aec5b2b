"""The threaded pipeline on the benchmark clip, built exactly as ``run_stream.py`` builds it.

``Pipeline.from_config`` with the clip as source(s) and an H.264 video file as output (the video
sink ``run_stream.py -o`` makes, wrapped to keep every latency sample), so the work
is the sequential loop's: decode, preprocess, infer, postprocess, render (overlay, legend, HUD),
encode. Offline (every frame, back-pressure) gives throughput; ``source.pace: true`` replays the
clip like a camera at its own frame rate (the 30 fps clip, or its 60 fps remux) and gives the
end-to-end latency (from the moment the paced source releases a decoded frame to the moment the
video sink has taken it) and the frames dropped to keep that latency bounded.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench.stages import opencv_threads as cv2_threads
from bench.timing import Clock
from pipeline.config import load_config
from pipeline.frame import SegResult
from pipeline.pipeline import Pipeline
from pipeline.sinks.video import VideoSink
from pipeline.sources.base import SourceInfo


class TimedVideoSink:
    """The video sink, noting each frame's end-to-end latency once written (for the histogram).

    The pipeline's metrics keep percentiles only; this keeps every sample, measured at the same
    moment the metrics take theirs (the last sink's write returning).
    """

    name = "video"

    def __init__(self, inner: VideoSink) -> None:
        self.inner = inner
        self.latencies_ms: list[float] = []

    def open(self, sources: Mapping[str, SourceInfo]) -> None:
        self.inner.open(sources)

    def write(self, result: SegResult) -> None:
        self.inner.write(result)
        self.latencies_ms.append((time.monotonic() - result.frame.capture_time) * 1000.0)

    def close(self) -> None:
        self.inner.close()


def run_pipeline(
    clip: Path,
    model: Path,
    *,
    video: Path,
    frames: int = 0,
    streams: int = 1,
    pace: bool = False,
    settings: Mapping[str, Any] | None = None,
    x264: str | None = None,
    opencv_threads: int | None = None,
) -> dict[str, Any]:
    """One run; ``settings`` are config keys (``{"model.threads": 1, "runtime.infer_workers": 2}``).

    ``frames`` limits each source (``runtime.max_frames``); ``streams`` sources read the same
    clip, each into its own video file (``video`` then holds ``{source}``).
    """
    values: dict[str, Any] = {
        "model.path": str(model),
        "source.uris": [str(clip)] * streams,
        "source.pace": pace,
        "runtime.max_frames": frames,
    }
    values.update(settings or {})
    if x264 is not None:
        values["output.video_preset"] = x264
    config = load_config(values=values)
    uris = config.source.uris
    with cv2_threads(opencv_threads):
        sink = TimedVideoSink(VideoSink(video, codec=config.output.codec, preset=config.output.video_preset,
                                        inputs=uris, multi_source=len(uris) > 1))
        with Pipeline.from_config(config, sinks=[sink]) as pipe:  # on an error: queued frames dropped, threads ended
            clock = Clock()
            pipe.join()
            cores, others = clock.cores_busy(), clock.others_busy()
    stats = pipe.stats()
    sources = stats["sources"]
    captured = sum(int(s["frames_read"]) for s in sources.values())
    dropped = sum(int(s["dropped"]) for s in sources.values())
    return {
        "settings": dict(settings or {}),
        "x264_preset": x264,
        "opencv_threads": opencv_threads,
        "streams": streams,
        "live": bool(stats["live"]),
        "frames": stats["frames"],
        "captured": captured,
        "dropped": dropped,
        "drop_rate": round(dropped / captured, 3) if captured else 0.0,
        "fps": stats["fps"],
        "fps_per_stream": [s["fps"] for s in sources.values()],
        "e2e_latency_ms": stats["e2e_latency_ms"],
        "e2e_samples_ms": [round(v, 2) for v in sink.latencies_ms],
        "e2e_latency_per_stream_ms": {sid: s["e2e_latency_ms"] for sid, s in sources.items()},
        "stage_latency_ms": stats["stage_latency_ms"],
        "cores_busy": cores,
        "other_processes_cores": others,
        "batch": stats["model"]["batch"],
    }
