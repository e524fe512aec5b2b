"""Engine-only speed: frames per second and latency of the network alone, per engine setting.

The engine runs on a fixed set of real frames (decoded from the benchmark clip and fitted to the
model input, exactly as the preprocess stage does), never on zeros, after a warm-up. Settings
differ in ONNX Runtime intra-op threads, whether its idle worker threads spin
(``session.intra_op.allow_spinning``), and how many sessions run side by side (``workers``: one
calling thread each, as ``runtime.infer_workers`` does in the pipeline). Each measurement runs for
a fixed time, and the settings are measured in turn, repeatedly, with the order rotated each
round, so a burst of load from elsewhere hits every setting alike; the median round counts.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.timing import Clock, median, percentiles
from engines.engine import Engine
from engines.metadata import ModelMeta
from engines.registry import open_engine
from engines.transforms import fit, to_input


@dataclass(frozen=True)
class EngineSetting:
    """How the engine is run: intra-op threads per session (0: the backend's default), whether idle
    ONNX Runtime threads spin (None: the backend's default, which is not to), parallel sessions."""

    threads: int = 0
    spinning: bool | None = None
    workers: int = 1
    batch: int = 1
    backend: str = "onnxruntime"

    @property
    def name(self) -> str:
        if self.backend != "onnxruntime":
            return f"{self.backend}, default threads"
        threads = "default threads" if self.threads == 0 else f"{self.threads} thread{'s' * (self.threads > 1)}"
        spin = "" if self.threads == 1 or self.spinning is None else (", spinning" if self.spinning else ", no spinning")
        sessions = f"{self.workers} sessions × " if self.workers > 1 else "1 session × "
        batch = f", batch {self.batch}" if self.batch > 1 else ""
        return f"{sessions}{threads}{spin}{batch}"

    @property
    def options(self) -> dict[str, Any]:
        """Backend options for ``open_engine`` (``model.options`` in a config)."""
        return {} if self.spinning is None else {"spinning": self.spinning}

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "backend": self.backend, "threads": self.threads, "spinning": self.spinning,
                "workers": self.workers, "batch": self.batch}


def sweep_settings(max_batch: int, backend: str = "onnxruntime", cores: int | None = None) -> list[EngineSetting]:
    """The settings to compare: all cores in one session (spinning as ONNX Runtime's default does,
    and not), one thread, the cores split between parallel sessions; batches when the graph allows."""
    if backend != "onnxruntime":
        return [EngineSetting(backend=backend)]
    n = max(1, cores or os.cpu_count() or 1)
    settings = [EngineSetting(threads=n, spinning=True), EngineSetting(threads=n, spinning=False)]
    if n > 1:
        settings.append(EngineSetting(threads=1, spinning=False))
        settings.append(EngineSetting(threads=max(1, n // 2), spinning=False, workers=2))
    if n > 2:
        settings.append(EngineSetting(threads=1, spinning=False, workers=n))
    for batch in (2, 4):
        if max_batch >= batch:
            settings.append(EngineSetting(threads=n, spinning=False, batch=batch))
    return settings


def model_inputs(images: Sequence[np.ndarray], meta: ModelMeta) -> list[np.ndarray]:
    """Each frame fitted and converted as the preprocess stage does it: 1×… model inputs."""
    return [to_input([fit(image, meta.input.height, meta.input.width)[0]], meta.input) for image in images]


def batched(inputs: Sequence[np.ndarray], batch: int) -> list[np.ndarray]:
    if batch == 1:
        return list(inputs)
    count = len(inputs)
    return [np.concatenate([inputs[(i + k) % count] for k in range(batch)], axis=0) for i in range(0, count, batch)]


class EngineRig:
    """The open sessions of one setting, kept open across rounds (opening is not measured)."""

    def __init__(self, model: Path, setting: EngineSetting, inputs: Sequence[np.ndarray], warmup: int = 5) -> None:
        self.setting = setting
        self.engines: list[Engine] = [
            open_engine(model, backend=setting.backend, threads=setting.threads or None, **setting.options)
            for _ in range(setting.workers)
        ]
        self.inputs = batched(inputs, setting.batch)
        for engine in self.engines:
            for i in range(warmup):
                engine.infer(self.inputs[i % len(self.inputs)])

    def measure(self, seconds: float) -> dict[str, Any]:
        """Run every session flat out for ``seconds``; frames per second and per-call latencies."""
        latencies: list[list[float]] = [[] for _ in self.engines]
        ends = [0.0] * len(self.engines)
        start = time.perf_counter()
        deadline = start + seconds
        clock = Clock()

        def work(k: int) -> None:
            engine, own = self.engines[k], latencies[k]
            i = k * 7  # sessions start at different frames
            while True:
                t0 = time.perf_counter()
                if t0 >= deadline:
                    break
                engine.infer(self.inputs[i % len(self.inputs)])
                own.append((time.perf_counter() - t0) * 1000.0)
                i += 1
            ends[k] = time.perf_counter()

        if len(self.engines) == 1:
            work(0)
        else:
            threads = [threading.Thread(target=work, args=(k,), name=f"bench-engine-{k}") for k in range(len(self.engines))]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        cpu_s, others = clock.cpu_s, clock.others_busy()
        elapsed = max(ends) - start
        calls = sum(len(values) for values in latencies)
        frames = calls * self.setting.batch
        return {
            "fps": round(frames / elapsed, 2) if elapsed > 0 else 0.0,
            "calls": calls,
            "latencies_ms": [v for values in latencies for v in values],
            "cpu_ms_per_frame": round(cpu_s * 1000.0 / frames, 2) if frames else None,
            "other_processes_cores": others,
        }

    def close(self) -> None:
        for engine in self.engines:
            engine.close()


def run_engine_sweep(
    model: Path, images: Sequence[np.ndarray], meta: ModelMeta, *, rounds: int, seconds: float
) -> dict[str, Any]:
    """Every setting of ``sweep_settings``, ``rounds`` times in rotating order; the best and the fastest."""
    inputs = model_inputs(images, meta)
    probe = open_engine(model)
    max_batch, backend = int(probe.max_batch), probe.backend
    probe.close()
    settings = sweep_settings(max_batch, backend)
    rigs = [EngineRig(model, setting, inputs) for setting in settings]
    samples: list[list[dict[str, Any]]] = [[] for _ in rigs]
    try:
        for r in range(rounds):
            order = list(range(len(rigs)))
            order = order[r % len(order):] + order[: r % len(order)]
            for index in order:
                samples[index].append(rigs[index].measure(seconds))
    finally:
        for rig in rigs:
            rig.close()
    results = []
    for setting, runs in zip(settings, samples, strict=True):
        latencies = [v for run in runs for v in run["latencies_ms"]]
        results.append({
            **setting.as_dict(),
            "fps": median([run["fps"] for run in runs]),
            "fps_runs": [run["fps"] for run in runs],
            "latency_ms": percentiles(latencies),
            "cpu_ms_per_frame": median([run["cpu_ms_per_frame"] for run in runs if run["cpu_ms_per_frame"]]),
            "other_processes_cores": median([run["other_processes_cores"] for run in runs
                                             if run["other_processes_cores"] is not None]),
        })
    best = max(results, key=lambda r: r["fps"] or 0.0)
    single = [r for r in results if r["workers"] == 1 and r["batch"] == 1]
    fastest = min(single, key=lambda r: r["latency_ms"]["p50"] or float("inf"))
    return {
        "frames": len(inputs),
        "input": f"{meta.input.height}x{meta.input.width} {meta.input.dtype} {meta.input.layout}",
        "precision": meta.precision,
        "max_batch": max_batch,
        "rounds": rounds,
        "seconds_per_run": seconds,
        "settings": results,
        "best": best,
        "lowest_latency": fastest,
        "torch": "not measured: the bundled model is an ONNX file (PyTorch eager on this CPU is about 4x slower, "
        "docs/benchmarks.md)",
    }
