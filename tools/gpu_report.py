"""The Markdown of ``tools/gpu_check.py``'s report: one table per item, 'not measured' where nothing ran."""

from __future__ import annotations

from typing import Any

NOT_MEASURED = "not measured"


def _n(value: Any, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def _p(latency: Any) -> str:
    if not isinstance(latency, dict) or latency.get("p50") is None:
        return "–"
    return " / ".join(_n(latency.get(k)) for k in ("p50", "p95", "p99"))


def markdown(report: dict[str, Any]) -> str:
    items = report.get("items", {})
    env = items.get("environment", {}).get("result", {})
    lines = [f"# GPU check{' (DRY RUN on the CPU: no GPU figures)' if report.get('dry_run') else ''}", ""]
    lines.append(f"{env.get('gpu', 'no GPU')} · driver {env.get('driver', '–')} · torch {env.get('torch', '–')} "
                 f"(CUDA {env.get('torch_cuda', '–')}) · onnxruntime {env.get('onnxruntime', '–')} · "
                 f"{env.get('cpu_cores', '–')} CPU cores · {env.get('date_utc', '–')} · commit {env.get('commit', '–')}")
    lines += ["", "| item | status | seconds |", "|---|---|---|"]
    for name, entry in items.items():
        lines.append(f"| {name} | {entry.get('status', '–')[:120]} | {_n(entry.get('seconds'))} |")
    lines += _headline(items)
    lines += _engine(items.get("engine", {}).get("result"))
    lines += _agreement(items.get("agreement", {}).get("result"), items.get("pipeline", {}).get("result"))
    lines += _pipeline(items.get("pipeline", {}).get("result"))
    lines += _streams(items.get("streams", {}).get("result"))
    tests = items.get("gpu_tests", {}).get("result") or {}
    if tests.get("summary"):
        lines += ["", f"gpu-marked tests: {tests['summary']}"]
    return "\n".join(lines) + "\n"


def _headline(items: dict[str, Any]) -> list[str]:
    """The figures the issue's moonshot names, beside their targets."""
    best = ((items.get("engine") or {}).get("result") or {}).get("best", {})
    wanted = best.get("512x1024 fp16", {})
    rows = ((items.get("streams") or {}).get("result") or {}).get("rows", [])
    sixteen = next((r for r in rows if r.get("streams") == 16 and r.get("mode") == "offline" and r.get("status") == "ok"), {})
    return ["", "## Headline (moonshot in brackets)", "",
            f"- LR-ASPP 512×1024 fp16, engine alone, best batch ({wanted.get('best_batch', '–')}): "
            f"{_fps(wanted.get('best_fps'))} [≥ 3,000]",
            f"- the same at batch 1: {_fps(wanted.get('batch1_fps'))} [≥ 1,000]",
            f"- 16 × 1080p streams through the whole pipeline, aggregate: {_fps(sixteen.get('fps'))} [≥ 1,000]"]


def _fps(value: Any) -> str:
    return f"{_n(value)} fps" if value else NOT_MEASURED


def _engine(result: Any) -> list[str]:
    lines = ["", "## Engine alone (LR-ASPP MobileNetV3-Large, input on the device, fps = frames/s)", ""]
    if not result:
        return [*lines, NOT_MEASURED]
    lines += ["| size | precision | batch | CUDA graph | argmax | ms / batch | fps | status |", "|---|---|---|---|---|---|---|---|"]
    for r in result.get("rows", []):
        measured = r.get("status") == "ok"
        lines.append(f"| {r['height']}×{r['width']} | {r['precision']} | {r['batch']} | {'on' if r['cuda_graph'] else 'off'} "
                     f"| {r['argmax']} | {_n(r.get('ms_per_batch'), 3) if measured else NOT_MEASURED} "
                     f"| {_n(r.get('fps')) if measured else NOT_MEASURED} | {r.get('status', '')[:60]} |")
    return lines


def _agreement(engine: Any, pipeline: Any) -> list[str]:
    lines = ["", "## Class-map agreement with ONNX Runtime on the CPU", ""]
    if engine:
        for precision in ("fp32", "fp16"):
            entry = engine.get(precision, {})
            share = entry.get("agreement")
            lines.append(f"- engine {precision}, {engine.get('frames')} street frames at "
                         f"{'×'.join(map(str, engine.get('size', [])))}: "
                         f"{_n(100 * share, 3) + ' %' if share is not None else NOT_MEASURED} ({entry.get('status')})")
    whole = (pipeline or {}).get("agreement_with_onnxruntime")
    if whole and whole.get("frames") is None:
        lines.append(f"- whole pipeline: {whole.get('status')}")
    elif whole:
        worst = whole.get("worst_frame")
        lines.append(f"- whole pipeline (device path, {whole.get('precision')}), {whole.get('frames')} clip frames at "
                     f"frame size: worst frame {_n(100 * worst, 3) + ' %' if worst is not None else NOT_MEASURED} "
                     f"({whole.get('status')})")
    return lines if len(lines) > 3 else [*lines, NOT_MEASURED]


def _stages(latency: Any) -> str:
    """p50 ms of read / preprocess / infer / postprocess / render: where a frame's time goes."""
    if not isinstance(latency, dict):
        return "–"
    names = ("read", "preprocess", "infer", "postprocess", "render")
    return " / ".join(_n((latency.get(name) or {}).get("p50")) for name in names)


def _pipeline(result: Any) -> list[str]:
    lines = ["", "## Whole pipeline, one stream", ""]
    if not result:
        return [*lines, NOT_MEASURED]
    clip = result.get("clip", {})
    lines += [f"Clip: {'×'.join(map(str, clip.get('size', [])))}, {clip.get('frames')} frames, {clip.get('codec')}.", "",
              "| mode | device path | path taken | fps | e2e p50 / p95 / p99 ms | stage p50 ms: read / pre / infer / post / render "
              "| dropped | GPU util % | process cores | status |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for r in result.get("runs", []):
        lines.append(f"| {r['mode']} | {r['device_path']} | {r.get('path_taken', '–')} | {_n(r.get('fps'))} "
                     f"| {_p(r.get('e2e_latency_ms'))} | {_stages(r.get('stage_latency_ms'))} | {_n(r.get('dropped'))} | {_n(r.get('gpu_util_percent_mean'))} "
                     f"| {_n(r.get('process_cores_busy'))} | {r.get('status', '')[:60]} |")
    return lines


def _streams(result: Any) -> list[str]:
    lines = ["", "## Concurrent streams, batched across sources", ""]
    if not result:
        return [*lines, NOT_MEASURED]
    lines += ["| streams | mode | aggregate fps | batch | e2e p50 / p95 / p99 ms | stage p50 ms: read / pre / infer / post / render "
              "| dropped | GPU util % | process cores | machine cores | status |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in result.get("rows", []):
        lines.append(f"| {r['streams']} | {r['mode']} | {_n(r.get('fps'))} | {_n(r.get('batch'))} "
                     f"| {_p(r.get('e2e_latency_ms'))} | {_stages(r.get('stage_latency_ms'))} | {_n(r.get('dropped'))} "
                     f"| {_n(r.get('gpu_util_percent_mean'))} | {_n(r.get('process_cores_busy'))} | {_n(r.get('machine_cores_busy'))} | {r.get('status', '')[:60]} |")
    return lines
