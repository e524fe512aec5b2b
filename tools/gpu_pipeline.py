"""The whole-pipeline measurements of ``tools/gpu_check.py``: one 1080p clip, offline and live,
the device path on and off, and 1…16 concurrent streams batched across sources.

The clip is the street scene (``streetsim``) encoded once at start: H.264 through PyAV when it is
installed, else OpenCV's MPEG-4 Part 2 (``mp4v``: the OpenCV wheel cannot encode H.264); the
codec used is recorded. A 60 fps copy of the same frames serves the live 60 fps runs. While a run
goes, GPU utilisation is sampled with ``nvidia-smi`` (none where it is missing) and CPU
utilisation from ``/proc`` (this process, and the machine).
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.timing import Clock, machine_busy_s
from tools.gpu_measure import NEEDS_CUDA, TIME_BOX


def make_clip(folder: Path, size: tuple[int, int], frames: int, fps: int, unique: int, *, use_pyav: bool) -> dict[str, Any]:
    """The street clip at ``size`` (w, h) at ``fps`` and at 60 fps: ``unique`` rendered frames, repeated
    up to ``frames``."""
    from streetsim import StreetScene, SyntheticSpec

    scene = StreetScene(SyntheticSpec(seed=7, frames=max(frames, unique), width=size[0], height=size[1], fps=fps))
    images = [scene.render(i)[0] for i in range(min(unique, frames))]
    paths, codec = {}, ""
    for rate in (fps, 60):
        path = folder / f"street_{size[0]}x{size[1]}_{rate}fps.mp4"
        codec = _write_pyav(path, images, frames, rate) if use_pyav else _write_opencv(path, images, frames, rate)
        paths[rate] = path
    return {"paths": paths, "codec": codec, "size": list(size), "frames": frames, "unique_frames": len(images)}


def has_pyav() -> bool:
    try:
        import av  # noqa: F401
    except ImportError:
        return False
    return True


def _write_pyav(path: Path, images: list[np.ndarray], frames: int, fps: int) -> str:
    import av

    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.height, stream.width = images[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "23"}
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(images[index % len(images)], format="bgr24")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return "h264 (PyAV libx264)"


def _write_opencv(path: Path, images: list[np.ndarray], frames: int, fps: int) -> str:
    """H.264 where this OpenCV build can encode it (the pip wheels cannot), else MPEG-4 Part 2."""
    import cv2

    height, width = images[0].shape[:2]
    writer, name = None, ""
    for fourcc, name in (("avc1", "h264 (OpenCV)"), ("mp4v", "mp4v (OpenCV; this build encodes no H.264)")):  # noqa: B007
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (width, height))
        if writer.isOpened():
            break
        writer.release()
        writer = None
    if writer is None:
        raise RuntimeError(f"OpenCV can write neither H.264 nor mp4v to {path}")
    for index in range(frames):
        writer.write(images[index % len(images)])
    writer.release()
    return name


class Utilisation:
    """Samples GPU utilisation (nvidia-smi) and CPU busy cores (/proc) while a run goes."""

    def __init__(self, every_s: float = 0.5) -> None:
        self.every_s = every_s
        self.gpu: list[float] = []
        self.gpu_memory_mib: list[float] = []
        self._stop = threading.Event()
        self._smi = shutil.which("nvidia-smi")
        self._thread = threading.Thread(target=self._loop, name="gpu-check-util", daemon=True)
        self._clock = Clock()
        self._machine0 = machine_busy_s()

    def __enter__(self) -> Utilisation:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            if self._smi is None:
                return
            try:
                text = subprocess.run([self._smi, "--query-gpu=utilization.gpu,memory.used", "--format=csv,noheader,nounits"],
                                      capture_output=True, text=True, timeout=5).stdout
                util, memory = (float(v) for v in text.splitlines()[0].split(","))
            except (OSError, ValueError, IndexError, subprocess.SubprocessError):
                continue
            self.gpu.append(util)
            self.gpu_memory_mib.append(memory)

    def summary(self) -> dict[str, Any]:
        wall = self._clock.wall_s
        machine = machine_busy_s()
        busy = (machine - self._machine0) / wall if machine is not None and self._machine0 is not None and wall > 0 else None
        return {
            "gpu_util_percent_mean": round(float(np.mean(self.gpu)), 1) if self.gpu else None,
            "gpu_util_percent_max": max(self.gpu) if self.gpu else None,
            "gpu_memory_mib_max": max(self.gpu_memory_mib) if self.gpu_memory_mib else None,
            "gpu_samples": len(self.gpu) if self._smi else "nvidia-smi not found",
            "process_cores_busy": self._clock.cores_busy(),
            "machine_cores_busy": round(busy, 2) if busy is not None else None,
        }


def run_once(ctx: Any, clip: Path, *, streams: int, device_path: str, live: bool, frames: int,
             keep_maps: int = 0) -> dict[str, Any]:
    """One pipeline run over ``streams`` copies of ``clip`` with the CUDA (or dry-run) torch engine."""
    from pipeline import Pipeline
    from pipeline.config import load_config
    from pipeline.sinks.callback import CallbackSink

    plan = ctx.plan
    values: dict[str, Any] = {
        "model.path": str(ctx.checkpoint), "model.device": plan.device,
        "source.uris": [str(clip)] * streams, "source.pace": live, "source.decoder": ctx.decoder,
        "runtime.max_frames": frames, "runtime.batch_size": max(1, streams),
        "render.device_path": device_path, "render.hud": True,
    }
    config = load_config(values=values)
    maps: dict[int, np.ndarray] = {}

    def keep(result: Any) -> None:  # the first frames of a one-stream run, for the agreement check
        if result.frame.index < keep_maps:
            maps[result.frame.index] = result.class_map

    started = time.monotonic()
    with Utilisation() as util:
        pipe = Pipeline.from_config(config, sinks=[CallbackSink(keep)])
        with pipe:
            pipe.join()
    seconds = round(time.monotonic() - started, 2)
    stats = pipe.stats()
    sources = stats["sources"]
    return {
        "streams": streams, "device_path": device_path, "live": live, "seconds": seconds, "frames": stats["frames"],
        "dropped": sum(int(s["dropped"]) for s in sources.values()), "fps": stats["fps"],
        "e2e_latency_ms": stats["e2e_latency_ms"],
        "e2e_latency_per_stream_ms": {sid: s["e2e_latency_ms"] for sid, s in sources.items()},
        "stage_latency_ms": stats["stage_latency_ms"], "batch": stats["model"]["batch"],
        "engine": {k: stats["model"].get(k) for k in ("backend", "device")},
        "path_taken": "device" if stats["model"]["device_path"] else "host",
        **util.summary(), "_maps": maps,
    }


def _public(run: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in run.items() if not k.startswith("_")}


def pipeline_runs(ctx: Any, deadline: float) -> dict[str, Any]:
    """Offline fps, live 30/60 fps latency, each with the device path on and off; class maps of the
    device path against ONNX Runtime's host path on the first frames."""
    plan, clip = ctx.plan, ctx.clip
    runs: list[dict[str, Any]] = []
    for live, rate in [(False, plan.fps), *((True, r) for r in plan.live_rates)]:
        for device_path in ("always", "never"):
            name = {"mode": f"live {rate} fps" if live else "offline", "device_path": device_path}
            if time.monotonic() > deadline:
                runs.append({**name, "status": TIME_BOX})
                continue
            try:
                run = run_once(ctx, clip["paths"][rate], streams=1, device_path=device_path, live=live,
                               frames=plan.pipeline_frames, keep_maps=plan.compare_frames if not live else 0)
                if not live and device_path == "always":
                    ctx.device_maps = run["_maps"]
                runs.append({**name, "status": "ok", **_public(run)})
            except Exception as exc:
                runs.append({**name, "status": f"failed: {type(exc).__name__}: {exc}"[:300]})
    return {"clip": {k: v for k, v in clip.items() if k != "paths"}, "runs": runs,
            "agreement_with_onnxruntime": _pipeline_agreement(ctx, deadline)}


def _pipeline_agreement(ctx: Any, deadline: float) -> dict[str, Any]:
    """The device path's class maps against the host path with ONNX Runtime on the CPU, same frames."""
    from pipeline import Pipeline
    from pipeline.config import load_config
    from pipeline.sinks.callback import CallbackSink

    ours: dict[int, np.ndarray] = getattr(ctx, "device_maps", {}) or {}
    if not ours:
        return {"status": "not measured: the offline device-path run gave no class maps"}
    if time.monotonic() > deadline:
        return {"status": TIME_BOX}
    theirs: dict[int, np.ndarray] = {}
    config = load_config(values={"model.path": str(ctx.onnx_path), "model.device": "cpu",
                                 "source.uris": [str(ctx.clip["paths"][ctx.plan.fps])], "source.decoder": ctx.decoder,
                                 "runtime.max_frames": max(ours) + 1, "render.visualize": "none"})
    with Pipeline.from_config(config, sinks=[CallbackSink(lambda r: theirs.__setitem__(r.frame.index, r.class_map))]) as pipe:
        pipe.join()
    shares = [float((ours[i] == theirs[i]).mean()) for i in sorted(ours) if i in theirs]
    worst = min(shares) if shares else 0.0
    return {"status": "ok" if shares and worst >= ctx.plan.min_agreement else "failed: below the minimum",
            "frames": len(shares), "precision": "fp16" if ctx.plan.device.startswith("cuda") else "fp32",
            "worst_frame": round(worst, 6), "mean": round(float(np.mean(shares)), 6) if shares else None}


def stream_runs(ctx: Any, deadline: float) -> dict[str, Any]:
    """1…16 concurrent streams, batched across sources: offline (capacity) and live (latency)."""
    plan = ctx.plan
    rows: list[dict[str, Any]] = []
    for streams in plan.stream_counts:
        for live in (False, True):
            name = {"streams": streams, "mode": f"live {plan.fps} fps each" if live else "offline"}
            if time.monotonic() > deadline:
                rows.append({**name, "status": TIME_BOX})
                continue
            try:
                run = run_once(ctx, ctx.clip["paths"][plan.fps], streams=streams, device_path="auto" if not
                               plan.dry_run else "always", live=live, frames=plan.stream_frames)
                rows.append({**name, "status": "ok", **_public(run)})
            except Exception as exc:
                rows.append({**name, "status": f"failed: {type(exc).__name__}: {exc}"[:300]})
    return {"rows": rows, "note": None if not plan.dry_run else f"dry run: CPU device; fp16 {NEEDS_CUDA}"}
