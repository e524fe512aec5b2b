"""The three targets, judged from one run's numbers, and the CPU arithmetic that explains a miss.

* the pipeline is at least 1.3× the sequential loop;
* the pipeline is at least 0.85× the engine alone (its best setting);
* live at 30 fps, end-to-end p99 is under 3 × the engine's latency + 30 ms (the engine's latency
  is the p50 of its lowest-latency single-session setting: the strictest reading).

A target whose inputs were not measured in this run (another ``--mode``) is ``met: null``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

OVER_SEQUENTIAL = 1.3
OVER_ENGINE = 0.85
LIVE_LATENCY_FACTOR = 3.0
LIVE_LATENCY_SLACK_MS = 30.0


def _target(text: str, value: float | None, limit: float | None, higher_is_better: bool) -> dict[str, Any]:
    met = None
    if value is not None and limit is not None:
        met = bool(value >= limit) if higher_is_better else bool(value < limit)
    return {"target": text, "value": value, "limit": limit, "met": met}


def cpu_budget(result: Mapping[str, Any]) -> dict[str, Any] | None:
    """Why a pipeline cannot reach the engine's speed on these cores: CPU milliseconds per frame."""
    stages = result.get("stages")
    if not stages:
        return None
    engine_fps = result.get("engine_fps")
    cpu = {row["stage"]: row["cpu_ms"] for row in stages["stages"]}
    total = stages["total_cpu_ms"]
    cores = stages["cores"]
    best = (result.get("engine") or {}).get("best") or {}
    engine_cpu = best.get("cpu_ms_per_frame")
    budget: dict[str, Any] = {
        "cores": cores,
        "cpu_ms_per_frame": cpu,
        "total_cpu_ms": total,
        "cpu_bound_fps": stages["cpu_bound_fps"],
        "non_engine_cpu_ms": round(total - cpu.get("infer", 0.0), 2),
    }
    if engine_cpu:
        # The engine alone at its best setting keeps every core busy: engine fps ≈ cores / E. A
        # pipeline must also spend N ms of CPU per frame outside the engine: fps ≤ cores / (E + N).
        # So pipeline / engine ≤ E / (E + N), whatever the threads, on any number of cores.
        non_engine = budget["non_engine_cpu_ms"]
        budget["engine_best_cpu_ms"] = engine_cpu
        budget["ceiling_fps_at_best_engine_setting"] = round(cores * 1000.0 / (engine_cpu + non_engine), 1)
        budget["max_pipeline_over_engine"] = round(engine_cpu / (engine_cpu + non_engine), 3)
        if engine_fps:
            budget["engine_cores_busy"] = round(engine_fps * engine_cpu / 1000.0, 2)
    return budget


def judge(result: Mapping[str, Any]) -> dict[str, Any]:
    latency = (result.get("engine_latency_ms") or {}).get("p50")
    live = (result.get("e2e_latency_ms") or {}).get("live_30") or {}
    targets = {
        "pipeline_over_sequential": _target(
            f"pipeline fps >= {OVER_SEQUENTIAL} x sequential loop", result.get("pipeline_over_sequential"),
            OVER_SEQUENTIAL, True),
        "pipeline_over_engine": _target(
            f"pipeline fps >= {OVER_ENGINE} x engine-only fps (best setting)", result.get("pipeline_over_engine"),
            OVER_ENGINE, True),
        "live_30_e2e_p99": _target(
            f"live 30 fps: e2e p99 < {LIVE_LATENCY_FACTOR:g} x engine latency + {LIVE_LATENCY_SLACK_MS:g} ms",
            live.get("p99"),
            round(LIVE_LATENCY_FACTOR * latency + LIVE_LATENCY_SLACK_MS, 2) if latency else None, False),
    }
    budget = cpu_budget(result)
    if budget is not None:
        targets["cpu_budget"] = budget
        reach = budget.get("max_pipeline_over_engine")
        if reach is not None:
            targets["pipeline_over_engine"]["reachable_on_this_cpu"] = reach >= OVER_ENGINE
    return targets
