"""Writing a run down: ``bench.json`` (every number), ``bench.md`` (tables) and PNG plots.

Plots (matplotlib, Agg backend, no display needed): the end-to-end latency histogram of the live
runs (``e2e_latency.png``) and frames per second against the number of streams
(``fps_vs_streams.png``), plus the CPU milliseconds each stage costs per frame (``stage_cpu.png``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench.machine import describe
from segcore.files import write_json


def _fmt(value: Any, digits: int = 1, suffix: str = "") -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}{suffix}"
    return f"{value}{suffix}"


def _met(entry: Mapping[str, Any]) -> str:
    return {True: "**met**", False: "**not met**", None: "not measured"}[entry.get("met")]


def markdown(result: Mapping[str, Any]) -> str:
    lines = ["# segstream benchmark", ""]
    machine = result.get("machine", {})
    lines += [
        f"- command: `{result.get('command', '')}`",
        f"- date: {machine.get('date')}; load average at start {machine.get('load_average_start')}, "
        f"at end {result.get('load_average_end')}",
        f"- machine: {describe(machine)}" if machine else "- machine: –",
        f"- model: {result['model']['name']} ({result['model']['architecture']}), input {result['model']['input']} "
        f"{result['model']['dtype']} {result['model']['layout']}, {result['model']['output']} out, "
        f"{result['model']['precision']}; weights: {result['model']['weights']}",
        f"- clip: {result['clip']['size']} H.264 (`{result['clip']['path']}`)",
        f"- pipeline settings: {result.get('pipeline_settings') or 'the default config'}; run took "
        f"{result.get('duration_s')} s",
        "",
        "## Headline",
        "",
        "| what | value |",
        "|---|---|",
        f"| engine-only fps (best: {result.get('engine_setting', '–')}) | {_fmt(result.get('engine_fps'))} |",
        f"| engine latency p50 / p95 / p99 ms ({result.get('engine_latency_setting', '–')}) | "
        + " / ".join(_fmt((result.get("engine_latency_ms") or {}).get(k)) for k in ("p50", "p95", "p99")) + " |",
        f"| sequential loop fps | {_fmt(result.get('sequential_fps'))} |",
        f"| pipeline fps (offline) | {_fmt(result.get('pipeline_fps'))} |",
        f"| pipeline / sequential | {_fmt(result.get('pipeline_over_sequential'), 2)} |",
        f"| pipeline / engine | {_fmt(result.get('pipeline_over_engine'), 2)} |",
        f"| bottleneck stage (alone, wall time) | {result.get('bottleneck_stage', '–')} |",
    ]
    for fps in (30, 60):
        live = result.get(f"pipeline_live_{fps}")
        if live:
            e2e = live["e2e_exact_ms"]
            lines.append(f"| live {fps} fps: e2e p50 / p95 / p99 ms, dropped (other processes, cores) | "
                         f"{_fmt(e2e['p50'])} / {_fmt(e2e['p95'])} / {_fmt(e2e['p99'])}, {live['dropped']} of "
                         f"{live['captured']} ({_fmt(live.get('other_processes_cores'), 2)}) |")
    targets = result.get("targets", {})
    lines += ["", "## Targets", "", "| target | value | limit | |", "|---|---|---|---|"]
    for key in ("pipeline_over_sequential", "pipeline_over_engine", "live_30_e2e_p99"):
        entry = targets.get(key)
        if entry:
            lines.append(f"| {entry['target']} | {_fmt(entry['value'], 2)} | {_fmt(entry['limit'], 2)} | {_met(entry)} |")
    budget = targets.get("cpu_budget")
    if budget:
        lines += ["", f"CPU per frame: {budget['total_cpu_ms']} ms on {budget['cores']} cores → at most "
                  f"{budget['cpu_bound_fps']} fps for any pipeline doing this work "
                  f"({budget['non_engine_cpu_ms']} ms of it outside the engine)."]
        if "max_pipeline_over_engine" in budget:
            lines.append(f"The engine alone at its best setting spends {budget['engine_best_cpu_ms']} ms of CPU per frame "
                         f"and keeps {budget.get('engine_cores_busy', '–')} cores busy; a pipeline spends "
                         f"{budget['non_engine_cpu_ms']} ms more per frame on the same cores, so it can reach at most "
                         f"{budget['engine_best_cpu_ms']} / ({budget['engine_best_cpu_ms']} + {budget['non_engine_cpu_ms']}) "
                         f"= {budget['max_pipeline_over_engine']:.2f} × engine-only "
                         f"({budget['ceiling_fps_at_best_engine_setting']} fps on {budget['cores']} free cores).")
    engine = result.get("engine")
    if engine:
        lines += ["", "## Engine alone", "", f"{engine['frames']} real frames, input {engine['input']}, "
                  f"{engine['precision']}, {engine['rounds']} round(s) of {engine['seconds_per_run']} s per setting.", "",
                  "| setting | fps | p50 ms | p95 ms | p99 ms | CPU ms/frame | other processes, cores |",
                  "|---|---|---|---|---|---|---|"]
        for row in engine["settings"]:
            lat = row["latency_ms"]
            lines.append(f"| {row['name']} | {_fmt(row['fps'])} | {_fmt(lat['p50'])} | {_fmt(lat['p95'])} | "
                         f"{_fmt(lat['p99'])} | {_fmt(row['cpu_ms_per_frame'])} | "
                         f"{_fmt(row.get('other_processes_cores'), 2)} |")
    stages = result.get("stages")
    if stages:
        lines += ["", "## Stages alone", "", f"{stages['frames']} frames, engine {stages['engine']}.", "",
                  "| stage | wall ms/frame | CPU ms/frame | other processes, cores |", "|---|---|---|---|"]
        for row in stages["stages"]:
            lines.append(f"| {row['stage']} | {_fmt(row['wall_ms'], 2)} | {_fmt(row['cpu_ms'], 2)} | "
                         f"{_fmt(row.get('other_processes_cores'), 2)} |")
        lines.append(f"| **sum** | {_fmt(stages['total_wall_ms'], 2)} | {_fmt(stages['total_cpu_ms'], 2)} | |")
        for row in stages["alternatives"]:
            lines.append(f"| _{row['stage']}_ | {_fmt(row['wall_ms'], 2)} | {_fmt(row['cpu_ms'], 2)} | "
                         f"{_fmt(row.get('other_processes_cores'), 2)} |")
    tuning = result.get("tuning")
    if tuning:
        lines += ["", "## Pipeline variants (offline, same rounds)", "",
                  "| variant | fps (median) | per round | / configured | cores busy |", "|---|---|---|---|---|"]
        for row in tuning:
            lines.append(f"| {row['variant']} | {_fmt(row['fps'])} | {', '.join(_fmt(v) for v in row['fps_runs'])} | "
                         f"{_fmt(row['over_configured'], 2)} | {_fmt(row['cores_busy'], 2)} |")
    variants = result.get("live_30_variants")
    if variants:
        lines += ["", "## Live 30 fps, other settings (same run)", "",
                  "| variant | fps | e2e p50 ms | e2e p95 ms | e2e p99 ms | dropped | other processes, cores |",
                  "|---|---|---|---|---|---|---|"]
        for row in variants:
            e2e = row["e2e_exact_ms"]
            lines.append(f"| {row['variant']} | {_fmt(row['fps'])} | {_fmt(e2e['p50'])} | {_fmt(e2e['p95'])} | "
                         f"{_fmt(e2e['p99'])} | {row['dropped']} of {row['captured']} | "
                         f"{_fmt(row.get('other_processes_cores'), 2)} |")
    rounds = result.get("rounds")
    if rounds:
        names = list(rounds[0])
        others = result.get("rounds_other_processes_cores") or [{} for _ in rounds]
        lines += ["", "## Rounds: fps (cores used by other processes meanwhile)", "",
                  "| round | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
        for i, (r, o) in enumerate(zip(rounds, others, strict=True), 1):
            lines.append(f"| {i} | " + " | ".join(f"{_fmt(r[n])} ({_fmt(o.get(n), 2)})" for n in names) + " |")
    streams = result.get("streams")
    if streams:
        lines += ["", "## Streams (each paced at 30 fps)", "",
                  "| streams | fps in all | fps per stream (median) | e2e p50 ms | e2e p99 ms | worst stream p99 ms | dropped |",
                  "|---|---|---|---|---|---|---|"]
        for row in streams:
            e2e = row["e2e_latency_ms"]
            lines.append(f"| {row['streams']} | {_fmt(row['aggregate_fps'])} | {_fmt(row['median_stream_fps'])} | "
                         f"{_fmt(e2e['p50'])} | {_fmt(e2e['p99'])} | {_fmt(row['worst_stream_p99_ms'])} | "
                         f"{100 * row['drop_rate']:.0f} % |")
    return "\n".join(lines) + "\n"


def plot(result: Mapping[str, Any], folder: Path) -> list[Path]:
    """The PNG plots this run has data for; returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written: list[Path] = []
    samples = result.get("e2e_samples_ms") or {}
    if samples:
        fig, ax = plt.subplots(figsize=(7, 4))
        for name, values in samples.items():
            if values:
                ax.hist(values, bins=40, alpha=0.6, label=f"{name.replace('_', ' ')} fps (n={len(values)})")
        ax.set_xlabel("end-to-end latency, ms")
        ax.set_ylabel("frames")
        ax.set_title("Pipeline live: capture to written frame")
        ax.legend()
        fig.tight_layout()
        written.append(_save(fig, folder / "e2e_latency.png"))
        plt.close(fig)
    streams = result.get("streams")
    if streams:
        counts = [row["streams"] for row in streams]
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(counts, [row["aggregate_fps"] for row in streams], "o-", label="all streams")
        ax.plot(counts, [row["median_stream_fps"] for row in streams], "s--", label="per stream (median)")
        ax.plot(counts, [30 * c for c in counts], ":", color="grey", label="offered (30 fps each)")
        if result.get("engine_fps"):
            ax.axhline(result["engine_fps"], color="red", lw=0.8, label="engine alone")
        ax.set_xscale("log", base=2)
        ax.set_xticks(counts, [str(c) for c in counts])
        ax.set_ylim(0, max(max(row["aggregate_fps"] for row in streams), result.get("engine_fps") or 0) * 1.3)
        ax.set_xlabel("streams")
        ax.set_ylabel("frames per second")
        ax.set_title("Throughput against the number of live streams")
        ax.legend()
        fig.tight_layout()
        written.append(_save(fig, folder / "fps_vs_streams.png"))
        plt.close(fig)
    stages = result.get("stages")
    if stages:
        rows = stages["stages"]
        fig, ax = plt.subplots(figsize=(6, 3.5))
        names = [row["stage"] for row in rows]
        ax.barh(names, [row["cpu_ms"] for row in rows], label="CPU")
        ax.barh(names, [row["wall_ms"] for row in rows], fill=False, edgecolor="black", label="wall")
        ax.invert_yaxis()
        ax.set_xlabel("ms per frame")
        ax.set_title(f"Each stage alone: {stages['total_cpu_ms']:.0f} ms CPU per frame in all")
        ax.legend()
        fig.tight_layout()
        written.append(_save(fig, folder / "stage_cpu.png"))
        plt.close(fig)
    return written


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path


def write_all(result: dict[str, Any], folder: Path, json_path: Path | None) -> list[Path]:
    """``bench.json`` (and ``json_path``), ``bench.md`` and the plots into ``folder``; returns the files."""
    folder.mkdir(parents=True, exist_ok=True)
    pngs = plot(result, folder)
    result["plots"] = [str(p) for p in pngs]
    written = [folder / "bench.json", folder / "bench.md", *pngs]
    write_json(result, folder / "bench.json", indent=1)
    (folder / "bench.md").write_text(markdown(result), encoding="utf-8")
    if json_path is not None and json_path.resolve() != (folder / "bench.json").resolve():
        write_json(result, json_path, indent=1)
        written.append(json_path)
    return written
