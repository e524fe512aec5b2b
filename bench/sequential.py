"""The obvious single-thread loop, as the seed script ran it: read → preprocess → infer →
postprocess → render → write, one frame at a time, with the pipeline's own parts.

Same clip, same engine, same work as the threaded pipeline (``FileSource`` decoding, the
preprocess/postprocess/render stages with legend and HUD, ``VideoSink`` writing H.264), only
without the threads and queues. Timed like the pipeline's fps: from the first read to the last
frame handed to the video writer (the engine is loaded and warmed up before).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.timing import Clock, percentiles
from engines.metadata import ModelMeta
from engines.registry import open_engine
from pipeline.config_schema import SourceConfig
from pipeline.sinks.video import VideoSink
from pipeline.sources.file import FileSource
from pipeline.stages.postprocess import PostprocessStage
from pipeline.stages.preprocess import PreprocessStage
from pipeline.stages.render import RenderStage


def run_sequential(
    clip: Path, model: Path, meta: ModelMeta, *, frames: int, threads: int, options: dict[str, Any], video: Path
) -> dict[str, Any]:
    """One thread, one frame at a time, ``frames`` frames of ``clip`` into ``video``."""
    source = FileSource(clip, source_id="bench", config=SourceConfig())
    info = source.open()
    engine = open_engine(model, threads=threads or None, **options)
    engine.warmup(2)
    preprocess = PreprocessStage(meta.input, (meta.input.height, meta.input.width))
    postprocess = PostprocessStage(meta.output, meta.num_classes)
    done = 0
    clock: Clock | None = None

    def hud(_source: str) -> str:
        fps = done / clock.wall_s if clock is not None and clock.wall_s > 0 else 0.0
        return f"{fps:.1f} fps"

    render = RenderStage(meta.class_names, meta.palette, hud=hud)
    render.start()
    sink = VideoSink(video)
    sink.open({"bench": info})
    latencies: list[float] = []
    try:
        clock = Clock()
        while done < frames:
            frame = source.read()
            if frame is None:
                break
            packet = preprocess.process(frame)
            packet.output = engine.infer(packet.tensor)[0]  # type: ignore[arg-type]
            packet.tensor = None
            result = render.process(postprocess.process(packet))
            sink.write(result)
            done += 1
            latencies.append(clock.wall_s * 1000.0)  # completion times; turned into per-frame times below
        wall, cores, others = clock.wall_s, clock.cores_busy(), clock.others_busy()
    finally:
        sink.close()
        source.close()
        engine.close()
    per_frame = [b - a for a, b in zip([0.0, *latencies[:-1]], latencies, strict=True)]
    return {
        "frames": done,
        "fps": round(done / wall, 2) if wall > 0 else 0.0,
        "frame_ms": percentiles(per_frame),
        "cores_busy": cores,
        "other_processes_cores": others,
        "engine": {"threads": threads, **options},
    }
