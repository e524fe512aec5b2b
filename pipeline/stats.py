"""What a running pipeline says about itself: the ``stats()`` summary and the HUD line on each frame.

``run_summary`` joins the metrics (frames, fps, latencies, accuracy), the queues' counters, what
every source reports and the engine that actually ran into one JSON-ready dict; its keys are
listed by ``summary_keys``. ``HudText`` is the short line the render stage draws on every frame,
recomputed at most twice a second.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from pipeline.construction import CheckedModel
from pipeline.failure import Failure
from pipeline.lifecycle import PipelineState
from pipeline.metrics import Metrics
from pipeline.stages.infer import InferStage
from pipeline.topology import SourceSlot, Topology
from segcore.redact import redact_text, redact_uri

HUD_REFRESH_S = 0.5


def run_summary(
    *,
    state: PipelineState,
    metrics: Metrics,
    topology: Topology,
    model: CheckedModel,
    infer: InferStage,
    failure: Failure | None,
    failed_sources: Mapping[str, BaseException] | None = None,
) -> dict[str, Any]:
    """A live, JSON-ready snapshot of a pipeline (its final summary once the run has ended)."""
    sources = list(topology.sources)  # first: every queue of these is in topology.queues already
    snap = metrics.snapshot()
    queues = {q.name: q.stats() for q in list(topology.queues)}
    per_source = snap.pop("sources")
    summary: dict[str, Any] = {
        "state": state.value,
        "frames": snap.pop("frames"),
        "fps": snap.pop("fps"),
        "dropped": sum(int(q["dropped"]) for q in queues.values()),
    }
    summary.update(snap)
    summary["queues"] = queues
    summary["sources"] = {
        slot.source.source_id: _source_section(slot, queues, per_source) for slot in sources
    }
    model_config = topology.config.model
    summary["model"] = {
        "path": str(model.path),
        "name": model.meta.name,
        "backend": infer.engine_backend or model_config.backend,
        "device": infer.engine_device or model_config.device,
        "input": f"{model.input_size[0]}x{model.input_size[1]}",
        "batch": infer.max_batch,
        "device_path": infer.on_device,  # frames stayed on the engine's device (pipeline/stages/on_device.py)
    }
    health = infer.options.get("health")
    if health is not None:  # a served model: what its workers saw of the server
        summary["model"]["server"] = health.snapshot()
    summary["live"] = topology.live
    if failed_sources:  # sources that gave up, each with its reason, also when the others went on
        summary["failed_sources"] = {source_id: redact_text(str(exc)) for source_id, exc in failed_sources.items()}
    if failure is not None:
        summary["error"] = f"{failure.component}: {failure.detail}"
    return summary


def _source_section(slot: SourceSlot, queues: Mapping[str, Any], per_source: Mapping[str, Any]) -> dict[str, Any]:
    try:
        own = dict(slot.source.stats())
    except Exception as exc:  # a broken stats() must not break observation
        own = {"stats_error": redact_text(str(exc))}
    section: dict[str, Any] = {
        "uri": redact_uri(slot.info.uri),
        "live": slot.live,
        "state": "removed" if slot.leaving.is_set() else own.pop("state", slot.state),
        "frames_read": slot.frames_read,
        "dropped": queues[slot.queue.name]["dropped"],
    }
    section.update(per_source.get(slot.source.source_id, {"frames": 0}))
    own.pop("frames", None)
    own.pop("state", None)
    section.update(own)
    return section


def summary_keys() -> Mapping[str, str]:
    """The keys of ``Pipeline.stats()`` and what they hold (documentation for JSON readers)."""
    return {
        "frames": "results written by every sink",
        "fps": "frames per second of the whole run",
        "dropped": "frames dropped by queue policies (live capture queues) or discarded at stop",
        "stage_latency_ms": "stage → {p50, p95, p99} in ms (read, preprocess, infer, postprocess, render, sink:NAME)",
        "e2e_latency_ms": "{p50, p95, p99} from capture to the last sink's write",
        "miou": "streamed mean IoU against the frames' labels (only when the source has labels)",
        "queues": "queue → policy, capacity, depth, max_depth, puts, dropped",
        "sources": "source id → uri, live, state, frames, frames_read, dropped, fps, latency, the source's own counters",
        "failed_sources": "source id → why it gave up (only when a source failed; the run fails when all did)",
        "error": "the component that failed and why (only when the run failed)",
    }


class HudText:
    """``hud(source_id)`` → "24.8 fps  latency 61 ms  dropped 3", for the render stage."""

    def __init__(self, metrics: Metrics, topology: Topology) -> None:
        self.metrics = metrics
        self.topology = topology
        self._cache: tuple[float, str] = (0.0, "")

    def __call__(self, source_id: str) -> str:
        now = time.monotonic()
        cached_at, text = self._cache
        if now - cached_at < HUD_REFRESH_S and text:
            return text
        fps, p50 = self.metrics.hud_values(now)
        latency = f"{p50:.0f} ms" if p50 is not None else "-"
        text = f"{fps:.1f} fps  latency {latency}  dropped {self.topology.dropped_at_capture()}"
        self._cache = (now, text)
        return text
