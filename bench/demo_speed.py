"""python -m bench.demo_speed: does the demo show the pipeline's own speed?

    python -m bench.demo_speed                      # the demo's 300 frames, 3 rounds: ~4 minutes on 2 cores
    python -m bench.demo_speed --quick --json d.json

Runs ``run_stream.py``'s demo configuration (the bundled model on the default synthetic stream,
writing an annotated H.264 video) in one process, side by side:

- **file**: the same frames encoded once with H.264 (``bench.clip``: libx264 veryfast, CRF 23) and
  read by the file source, as a recorded clip would be;
- **synthetic, cached**: the synthetic source, its drawn frames read from the cache (every demo run
  after the first);
- **synthetic, drawn**: the synthetic source with the cache off (every frame drawn, as before the cache);
- **synthetic, first run**: the synthetic source with an empty cache (the first demo run on a fresh
  clone): its ``open()`` draws the frames into the cache before the run's clock starts.

Each round runs the four in rotated order; fps are medians over rounds, and each ratio is the
median of the per-round ratios, so both sides of a ratio come from the same minutes. The caches of
this run live in ``--out`` (``source.synthetic_cache`` of its runs), so the demo's own cache is
neither used nor changed.
"""

from __future__ import annotations

import dataclasses
import gc
import shlex
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.clip import clip_name, make_clip
from bench.machine import describe, load_average, machine_info
from bench.run import bundled_model
from bench.timing import Clock, median
from pipeline.config import load_config
from pipeline.config_schema import DEFAULT_SOURCE
from pipeline.pipeline import Pipeline
from segcore.errors import OutputError, UserInputError
from segcore.exits import CommandParser, int_range, run_command
from segcore.files import write_json
from segcore.sizes import wh_argument
from streetsim import StreetScene, SyntheticSpec

VARIANTS = ("file", "cached", "drawn", "first")
LABELS = {"file": "file (H.264, decoded)", "cached": "synthetic, cached", "drawn": "synthetic, drawn",
          "first": "synthetic, first run (fills the cache)"}


def run_demo(source: str, model: Path, video: Path, cache: str | None) -> dict[str, Any]:
    """One run of the demo configuration on ``source``; ``cache`` is its ``source.synthetic_cache``."""
    config = load_config(values={"model.path": str(model), "source.uris": [source], "output.video": str(video),
                                 "source.synthetic_cache": cache})
    pipe = Pipeline.from_config(config)
    clock = Clock()
    stats = pipe.run()
    cores, others = clock.cores_busy(), clock.others_busy()
    # free its decoders and encoders here and now: left to a later collection, a process forked in
    # between (a fork-based worker pool) would try to free PyAV's scaler threads, which it lacks, and hang
    del pipe
    gc.collect()
    return {
        "frames": stats["frames"],
        "fps": stats["fps"],
        "e2e_p50_ms": stats["e2e_latency_ms"]["p50"],
        "read_p50_ms": (stats["stage_latency_ms"].get("read") or {}).get("p50"),
        "miou": stats.get("miou"),
        "cores_busy": cores,
        # CPU per frame moves less than fps when other processes take cores away
        "cpu_ms_per_frame": round(1000 * cores / stats["fps"], 1) if stats["fps"] else None,
        "other_processes_cores": others,
    }


def fill_cache(spec: SyntheticSpec, folder: Path) -> None:
    """Draw every frame of ``spec`` once into the cache in ``folder`` (what the demo's first run leaves)."""
    scene = StreetScene(spec, cache_dir=folder)
    scene.prepare()
    scene.close()
    if not StreetScene(spec, cache_dir=folder).cached:
        raise OutputError(f"the drawn-frame cache in {folder} could not be written (see the log)")


def measure(spec: SyntheticSpec, model: Path, out: Path, rounds: int) -> dict[str, Any]:
    if spec.camera != "dashcam" or spec.fps != 30 or spec.frames is None:
        raise UserInputError("the benchmark clip is a 30 fps dashcam video of a finite length")
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    size = (spec.width, spec.height)
    clip = make_clip(out / clip_name(spec.frames, size, spec.seed), frames=spec.frames, size=size, seed=spec.seed)
    cache, fresh = out / "cache", out / "cache-first-run"
    shutil.rmtree(cache, ignore_errors=True)
    fill_cache(spec, cache)
    uri = spec.to_uri()
    sources: dict[str, tuple[str, str | None]] = {
        "file": (str(clip), None), "cached": (uri, str(cache)), "drawn": (uri, None), "first": (uri, str(fresh))}
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in VARIANTS}
    per_round = []
    filled = []
    for r in range(rounds):
        this_round = {}
        for name in VARIANTS[r % len(VARIANTS):] + VARIANTS[:r % len(VARIANTS)]:
            source, setting = sources[name]
            if name == "first":
                shutil.rmtree(fresh, ignore_errors=True)
            run = run_demo(source, model, out / f"{name}.mp4", setting)
            if name == "first":
                filled.append(StreetScene(spec, cache_dir=fresh).cached)
            runs[name].append(run)
            this_round[name] = run["fps"]
        per_round.append(this_round)
    fps = {name: median([run["fps"] for run in runs[name]]) for name in VARIANTS}
    mious = {run["miou"] for name in ("cached", "drawn", "first") for run in runs[name]}
    return {
        "uri": uri,
        "clip": str(clip),
        "rounds": rounds,
        "first_run_filled_the_cache": all(filled),
        "runs": runs,
        "per_round_fps": per_round,
        "fps": fps,
        "cached_over_file": _ratio(per_round, "cached", "file"),
        "drawn_over_file": _ratio(per_round, "drawn", "file"),
        "first_over_drawn": _ratio(per_round, "first", "drawn"),
        "miou": runs["cached"][0]["miou"],
        "same_miou": len(mious) == 1,
        "duration_s": round(time.perf_counter() - started, 1),
    }


def _ratio(rounds: Sequence[dict[str, float]], top: str, bottom: str) -> float | None:
    return median([r[top] / r[bottom] for r in rounds if r.get(top) and r.get(bottom)], 3)


def markdown(result: dict[str, Any]) -> str:
    machine = result["machine"]
    lines = [
        f"- command: `{result['command']}`",
        f"- date: {machine['date']}; load average at start {machine['load_average_start']}, "
        f"at end {result['load_average_end']}",
        f"- machine: {describe(machine)}",
        f"- stream: `{result['uri']}`; clip `{result['clip']}`; {result['rounds']} round(s); "
        f"run took {result['duration_s']} s",
        "",
        "| source | fps | e2e p50 ms | read p50 ms | CPU ms / frame | other processes (cores) |",
        "|---|---|---|---|---|---|",
    ]
    for name in VARIANTS:
        runs = result["runs"][name]
        lines.append(f"| {LABELS[name]} | {median([r['fps'] for r in runs])} | "
                     f"{median([r['e2e_p50_ms'] for r in runs], 1)} | "
                     f"{median([r['read_p50_ms'] for r in runs if r['read_p50_ms'] is not None], 1)} | "
                     f"{median([r['cpu_ms_per_frame'] for r in runs if r['cpu_ms_per_frame'] is not None], 1)} | "
                     f"{', '.join(str(r['other_processes_cores']) for r in runs)} |")
    lines += [
        "",
        f"synthetic cached / file: **{result['cached_over_file']}**; synthetic drawn / file: "
        f"{result['drawn_over_file']}; first run / drawn: {result['first_over_drawn']}; "
        f"streamed mIoU {result['miou']} (the same in every synthetic run: {result['same_miou']})",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    return run_command(_main, argv)


def _main(argv: list[str]) -> int:
    parser = CommandParser(prog="python -m bench.demo_speed", description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one round of the first 90 frames")
    parser.add_argument("--rounds", type=int_range(1, 100), help="rounds (default 3, quick 1)")
    parser.add_argument("--frames", type=int, help="frames of the stream (default 300, quick 90)")
    parser.add_argument("--size", type=wh_argument, help="WIDTHxHEIGHT of the stream (default 1280x720)")
    parser.add_argument("--model", type=Path, help="model file (default: the bundled model)")
    parser.add_argument("--out", type=Path, default=Path("out/bench/demo_speed"), help="folder for the clip, "
                        "the cache and the videos (default out/bench/demo_speed)")
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    command = "python -m bench.demo_speed " + " ".join(shlex.quote(a) for a in argv if a != "--debug")
    spec = SyntheticSpec.from_uri(DEFAULT_SOURCE)
    frames = args.frames if args.frames is not None else (90 if args.quick else spec.frames)
    overrides: dict[str, Any] = {"frames": frames}
    if args.size:
        overrides["width"], overrides["height"] = args.size
    spec = dataclasses.replace(spec, **overrides)
    model = args.model or bundled_model()
    machine = machine_info()
    result = measure(spec, model, args.out, args.rounds or (1 if args.quick else 3))
    result.update(command=command.strip(), machine=machine, load_average_end=load_average())
    print(markdown(result))
    if args.json:
        write_json(result, args.json, what="benchmark results")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
