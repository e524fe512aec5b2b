"""Each stage alone, on the same frames: decode, preprocess, infer, postprocess, render, encode.

Every stage is the pipeline's own code (``FileSource``, the stage classes, ``VideoSink``), run
one after the other on one thread, so each number is that stage's cost with the machine to itself.
Two clocks per stage: wall milliseconds per frame (how long a frame waits for it) and CPU
milliseconds per frame (what it takes from the cores, counting its helper threads: the decoder's
and x264's frame threads, ONNX Runtime's intra-op threads, spinning included). The slowest stage
in wall time is the *bottleneck* of an ideal pipeline with a core per stage; the sum of CPU times
against the machine's cores is the ceiling of any pipeline on this machine.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from bench.timing import Clock
from engines.metadata import ModelMeta
from engines.registry import open_engine
from pipeline.config_schema import SourceConfig, VideoPreset
from pipeline.frame import Frame, SegResult
from pipeline.sources.base import SourceInfo
from pipeline.sources.file import FileSource
from pipeline.stage import Packet
from pipeline.stages.postprocess import PostprocessStage
from pipeline.stages.preprocess import PreprocessStage
from pipeline.stages.render import RenderStage

STAGES = ("decode", "preprocess", "infer", "postprocess", "render", "encode")
WHAT_IF_X264: VideoPreset = "veryfast"  # the encoder what-if: x264's usual real-time preset, slower than the shipped ultrafast
HUD_TEXT = "43.2 fps  latency 41 ms  dropped 0"  # what the pipeline's HUD draws, typically
WARMUP = 5  # frames each stage processes before it is timed (caches, first allocations)


@contextlib.contextmanager
def opencv_threads(threads: int | None) -> Iterator[None]:
    """Temporarily limit OpenCV's own worker threads (a what-if: resize, colour conversion, blending)."""
    import cv2

    if threads is None:
        yield
        return
    saved = cv2.getNumThreads()
    cv2.setNumThreads(threads)
    try:
        yield
    finally:
        cv2.setNumThreads(saved)


def _stage(name: str, frames: int, clock: Clock) -> dict[str, Any]:
    wall, cpu, others = clock.wall_s, clock.cpu_s, clock.others_busy()
    return {"stage": name, "wall_ms": round(wall * 1000.0 / frames, 2), "cpu_ms": round(cpu * 1000.0 / frames, 2),
            "other_processes_cores": others}


def decode(clip: Path, count: int, threads: int | None = None) -> tuple[list[Frame], SourceInfo, dict[str, Any]]:
    """The file source's own decoding (PyAV, ``source.decode_threads`` as shipped, or ``threads``)."""
    config = SourceConfig() if threads is None else SourceConfig(decode_threads=threads)
    source = FileSource(clip, source_id="bench", config=config)
    clock = Clock()
    info = source.open()
    frames: list[Frame] = []
    while len(frames) < count:
        frame = source.read()
        if frame is None:
            break
        frames.append(frame)
    row = _stage("decode" if threads is None else "decode, FFmpeg frame threads", len(frames), clock)
    source.close()
    return frames, info, row


def decode_frame_threads(clip: Path, count: int) -> dict[str, Any]:
    """The same decoding with FFmpeg's frame threads (``source.decode_threads: 0``), a what-if."""
    return decode(clip, count, threads=0)[2]


def encode(
    results: Sequence[SegResult], info: SourceInfo, folder: Path, preset: VideoPreset | None = None
) -> dict[str, Any]:
    """``VideoSink`` writing the rendered frames, flushed and closed: H.264 libx264 as shipped (or ``preset``)."""
    from pipeline.config_schema import OutputConfig
    from pipeline.sinks.video import VideoSink

    name = "encode" if preset is None else f"encode, x264 {preset}"
    sink = VideoSink(folder / f"stage_{preset or 'default'}.mp4", preset=preset or OutputConfig().video_preset)
    sink.open({"bench": info})
    clock = Clock()
    for result in results:
        sink.write(result)
    sink.close()
    return _stage(name, len(results), clock)


class _Cpu:
    """Preprocess, postprocess and render: the CPU stages around the engine, each warmed up first."""

    def __init__(self, meta: ModelMeta) -> None:
        self.preprocess = PreprocessStage(meta.input, (meta.input.height, meta.input.width))
        self.postprocess = PostprocessStage(meta.output, meta.num_classes)
        self.render = RenderStage(meta.class_names, meta.palette, hud=lambda _source: HUD_TEXT)
        self.render.start()

    def pre(self, frames: Sequence[Frame], suffix: str = "") -> tuple[list[Packet], dict[str, Any]]:
        for frame in frames[:WARMUP]:
            self.preprocess.process(frame)
        clock = Clock()
        packets = [self.preprocess.process(frame) for frame in frames]
        return packets, _stage(f"preprocess{suffix}", len(packets), clock)

    def post(self, packets: Sequence[Packet], outputs: Sequence[Any], suffix: str = "") -> tuple[list[Packet], dict[str, Any]]:
        def one(packet: Packet, output: Any) -> Packet:
            return self.postprocess.process(Packet(frame=packet.frame, geometry=packet.geometry, output=output))

        for packet, output in zip(packets[:WARMUP], outputs[:WARMUP], strict=True):
            one(packet, output)
        clock = Clock()
        done = [one(packet, output) for packet, output in zip(packets, outputs, strict=True)]
        return done, _stage(f"postprocess{suffix}", len(done), clock)

    def draw(self, packets: Sequence[Packet], suffix: str = "") -> tuple[list[SegResult], dict[str, Any]]:
        for packet in packets[:WARMUP]:
            self.render.process(packet)
        clock = Clock()
        results = [self.render.process(packet) for packet in packets]
        return results, _stage(f"render{suffix}", len(results), clock)


def run_stages(
    clip: Path, model: Path, meta: ModelMeta, *, count: int, threads: int, options: dict[str, Any], folder: Path | None = None
) -> dict[str, Any]:
    """Each stage alone on ``count`` frames; per-stage wall/CPU ms, the bottleneck and the CPU ceiling."""
    frames, info, decode_row = decode(clip, count)
    cpu = _Cpu(meta)
    packets, pre_row = cpu.pre(frames)

    engine = open_engine(model, threads=threads or None, **options)
    try:
        for packet in packets[:WARMUP]:
            engine.infer(packet.tensor)  # type: ignore[arg-type]
        clock = Clock()
        outputs = [engine.infer(packet.tensor)[0] for packet in packets]  # type: ignore[arg-type]
        infer_row = _stage("infer", len(packets), clock)
    finally:
        engine.close()

    posted, post_row = cpu.post(packets, outputs)
    results, render_row = cpu.draw(posted)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        rows = [decode_row, pre_row, infer_row, post_row, render_row, encode(results, info, Path(tmp))]
        alternatives = [encode(results, info, Path(tmp), preset=WHAT_IF_X264), decode_frame_threads(clip, count)]
    with opencv_threads(1):
        suffix = ", OpenCV 1 thread"
        alternatives.append(cpu.pre(frames, suffix)[1])
        alternatives.append(cpu.post(packets, outputs, suffix)[1])
        alternatives.append(cpu.draw(posted, suffix)[1])

    total_cpu = sum(row["cpu_ms"] for row in rows)
    total_wall = sum(row["wall_ms"] for row in rows)
    bottleneck = max(rows, key=lambda row: row["wall_ms"])
    cores = os.cpu_count() or 1
    return {
        "frames": len(frames),
        "engine": {"threads": threads, **options},
        "stages": rows,
        "alternatives": alternatives,
        "bottleneck_stage": bottleneck["stage"],
        "bottleneck_ms": bottleneck["wall_ms"],
        "total_wall_ms": round(total_wall, 2),
        "total_cpu_ms": round(total_cpu, 2),
        "cores": cores,
        "cpu_bound_fps": round(cores * 1000.0 / total_cpu, 1) if total_cpu else None,
        "one_thread_fps": round(1000.0 / total_wall, 1) if total_wall else None,
    }
