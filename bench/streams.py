"""Several cameras at once: 1, 2, 4 and 8 sources, each replaying the clip at 30 fps like a camera.

Every source is its own decoder on the same clip, into its own video file; the pipeline shares one
preprocess, infer (``runtime.infer_workers`` sessions), postprocess and render chain between them,
reading the sources round-robin. Reported per run: the aggregate fps delivered, each stream's fps
and end-to-end latency, and the fraction of frames dropped (a live source's newest frame wins,
so an overloaded machine drops frames instead of falling behind).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.pipeline_bench import run_pipeline
from bench.timing import median


def run_streams(
    clip: Path,
    model: Path,
    *,
    counts: Sequence[int],
    frames: int,
    folder: Path,
    settings: Mapping[str, Any],
    progress: Callable[[str], None] = lambda _line: None,
) -> list[dict[str, Any]]:
    """One live (paced) run per source count; ``frames`` per source bounds each run's length."""
    rows = []
    for count in counts:
        result = run_pipeline(
            clip, model, video=folder / "stream_{source}.mp4", frames=frames, streams=count, pace=True,
            settings=settings,
        )
        per_stream_p99 = [lat["p99"] for lat in result["e2e_latency_per_stream_ms"].values() if lat["p99"] is not None]
        row = {
            "streams": count,
            "aggregate_fps": result["fps"],
            "fps_per_stream": result["fps_per_stream"],
            "median_stream_fps": median(result["fps_per_stream"]),
            "e2e_latency_ms": result["e2e_latency_ms"],
            "worst_stream_p99_ms": max(per_stream_p99) if per_stream_p99 else None,
            "drop_rate": result["drop_rate"],
            "frames": result["frames"],
            "cores_busy": result["cores_busy"],
        }
        rows.append(row)
        progress(
            f"  {count} stream(s): {row['aggregate_fps']:.1f} fps in all, {row['median_stream_fps']} fps per stream, "
            f"e2e p50 {row['e2e_latency_ms']['p50']} ms, drops {100 * row['drop_rate']:.0f} %"
        )
    return rows

