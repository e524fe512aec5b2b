"""The engine-alone measurements of ``tools/gpu_check.py``: the sweep, argmax placement, agreement.

Everything goes through the public ``TorchEngine`` (``infer_tensor``: device tensor in, device
tensor out) with the bundled LR-ASPP's trained weights (``engines.models.onnx_weights``). Timing
on CUDA uses events around a run of calls, after warm-up (the second call at a shape captures
the CUDA graph), repeated and reported as the median; on the CPU (``--dry-run``) a host clock.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from engines.metadata import ModelMeta, OutputSpec

NEEDS_CUDA = "not run: needs CUDA (dry run)"
TIME_BOX = "not measured: the item's time box ran out"


def sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize(device)


def time_calls(call: Callable[[], Any], device: str, *, reps: int, min_s: float, max_calls: int) -> dict[str, Any]:
    """Median milliseconds per ``call()`` over ``reps`` runs of n calls (n sized so a run lasts ``min_s``)."""
    import torch

    on_cuda = device.startswith("cuda")
    sync(device)
    start = time.perf_counter()
    call()
    sync(device)
    one = max(time.perf_counter() - start, 1e-6)
    n = int(max(1, min(max_calls, min_s / one)))
    runs: list[float] = []
    for _ in range(reps):
        if on_cuda:
            begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            begin.record()
            for _ in range(n):
                call()
            end.record()
            end.synchronize()
            runs.append(begin.elapsed_time(end) / n)
        else:
            t0 = time.perf_counter()
            for _ in range(n):
                call()
            runs.append((time.perf_counter() - t0) * 1000.0 / n)
    return {"ms_per_call": round(statistics.median(runs), 4), "calls_per_run": n, "runs_ms": [round(r, 4) for r in runs]}


def open_engine(checkpoint: Path, meta: ModelMeta, device: str, *, half: bool, graph: bool,
                logits: bool = False) -> Any:
    from engines.backends.torch import TorchEngine

    if logits:  # the same network, its fp16/fp32 logits out: the argmax happens after the engine
        meta = dataclasses.replace(meta, output=OutputSpec(name="logits", kind="logits",
                                                           dtype="float16" if half else "float32"))
    return TorchEngine(checkpoint, meta, device=device, half=half, cuda_graph=graph,
                       channels_last=device.startswith("cuda"))


def random_frames(batch: int, height: int, width: int, device: str, seed: int) -> Any:
    import torch

    rng = np.random.default_rng(seed)
    return torch.from_numpy(rng.integers(1, 256, (batch, height, width, 3), dtype=np.uint8)).to(device)


def engine_row(checkpoint: Path, meta: ModelMeta, device: str, size: tuple[int, int], precision: str, batch: int,
               graph: bool, *, argmax: str, timing: dict[str, Any]) -> dict[str, Any]:
    """One setting: fps (frames per second) of the engine alone, input already on the device."""
    import torch

    engine = open_engine(checkpoint, meta, device, half=precision == "fp16", graph=graph, logits=argmax == "outside")
    inputs = [random_frames(batch, size[0], size[1], device, seed) for seed in (1, 2)]  # rotate two input sets
    turn = [0]

    def call() -> Any:
        turn[0] ^= 1
        out = engine.infer_tensor(inputs[turn[0]])
        return out.argmax(dim=1).to(torch.uint8) if argmax == "outside" else out

    try:
        for _ in range(3 if graph else 1):  # warm up: kernels, allocator, the graph capture on the second call
            call()
        measured = time_calls(call, device, **timing)
        graphs_used = bool(getattr(engine, "_use_graphs", False))
    finally:
        engine.close()
        inputs.clear()
    ms = measured["ms_per_call"]
    return {"height": size[0], "width": size[1], "precision": precision, "batch": batch, "cuda_graph": graph,
            "graph_captured": graphs_used, "argmax": argmax, "ms_per_batch": ms,
            "fps": round(batch * 1000.0 / ms, 1) if ms > 0 else None, **{k: measured[k] for k in ("calls_per_run", "runs_ms")}}


def engine_sweep(ctx: Any, deadline: float) -> dict[str, Any]:
    """Every (size, precision, batch, graph) of the plan, then argmax in the graph vs after it."""
    plan = ctx.plan
    rows: list[dict[str, Any]] = []
    settings = [(size, precision, batch, graph, "in graph")
                for size in plan.engine_sizes for precision in ("fp32", "fp16")
                for batch in plan.batches for graph in (False, True)]
    settings += [(plan.argmax_size, "fp16", batch, True, argmax)
                 for batch in plan.batches for argmax in ("in graph", "outside")]
    for size, precision, batch, graph, argmax in settings:
        row: dict[str, Any] = {"height": size[0], "width": size[1], "precision": precision, "batch": batch,
                               "cuda_graph": graph, "argmax": argmax}
        if plan.dry_run and (precision == "fp16" or graph):
            rows.append({**row, "status": NEEDS_CUDA})
            continue
        if time.monotonic() > deadline:
            rows.append({**row, "status": TIME_BOX})
            continue
        try:
            # the dry run measures fp32 where the real run measures fp16 (half needs CUDA)
            rows.append({**engine_row(ctx.checkpoint, ctx.meta, plan.device, size, precision, batch, graph,
                                      argmax=argmax, timing=plan.timing), "status": "ok"})
        except Exception as exc:  # one setting failing (out of memory, capture) must not lose the others
            rows.append({**row, "status": f"failed: {type(exc).__name__}: {exc}"[:300]})
        finally:
            _free(plan.device)
    return {"rows": rows, "best": _best(rows)}


def _best(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The fastest measured fps per (size, precision), and at batch 1."""
    best: dict[str, Any] = {}
    for row in rows:
        if row.get("status") != "ok" or row.get("argmax") != "in graph":
            continue
        key = f"{row['height']}x{row['width']} {row['precision']}"
        entry = best.setdefault(key, {"best_fps": 0.0, "best_batch": None, "batch1_fps": None})
        if row["fps"] > entry["best_fps"]:
            entry.update(best_fps=row["fps"], best_batch=row["batch"], best_graph=row["cuda_graph"])
        if row["batch"] == 1:
            entry["batch1_fps"] = max(entry["batch1_fps"] or 0.0, row["fps"])
    return best


def _free(device: str) -> None:
    import gc

    import torch

    gc.collect()
    if device.startswith("cuda"):
        torch.cuda.empty_cache()


def agreement(ctx: Any, deadline: float) -> dict[str, Any]:
    """Class maps of the torch engine on the device (fp32 and fp16) against ONNX Runtime on the CPU."""
    from engines.backends.onnxruntime import OnnxRuntimeEngine
    from engines.transforms import fit

    plan = ctx.plan
    images = [fit(image, ctx.meta.input.height, ctx.meta.input.width, "stretch")[0] for image in ctx.street_frames]
    batch = np.stack(images)
    reference = OnnxRuntimeEngine(ctx.onnx_path, ctx.meta).infer(batch)
    result: dict[str, Any] = {"frames": len(images), "size": list(batch.shape[1:3]), "minimum": plan.min_agreement,
                              "classes_in_reference": int(len(np.unique(reference)))}
    for precision in ("fp32", "fp16"):
        if plan.dry_run and precision == "fp16":
            result[precision] = {"status": NEEDS_CUDA}
            continue
        if time.monotonic() > deadline:
            result[precision] = {"status": TIME_BOX}
            continue
        engine = open_engine(ctx.checkpoint, ctx.meta, plan.device, half=precision == "fp16",
                             graph=not plan.dry_run)
        try:
            maps = np.concatenate([engine.infer(batch[i : i + 4]) for i in range(0, len(batch), 4)])
        finally:
            engine.close()
        share = float((maps == reference).mean())
        result[precision] = {"status": "ok" if share >= plan.min_agreement else "failed: below the minimum",
                             "agreement": round(share, 6)}
    return result
