"""The benchmark run: every mode in order, side by side in one process, into one result dict.

Order of a full run (``--mode all``): the engine sweep (every engine setting, rounds in rotating
order) → each stage alone → the comparison rounds (each round runs the best engine setting, the
sequential loop, the pipeline as configured and the tuning variants, rotated, so a burst of load
from elsewhere hits them alike; medians of the rounds are reported, and each ratio is the median
of the per-round ratios) → the pipeline live at 30 and 60 fps → 1, 2, 4 and 8 streams.
Then the targets are judged.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import clip as clips
from bench.engine import EngineRig, EngineSetting, model_inputs, run_engine_sweep
from bench.machine import load_average, machine_info
from bench.pipeline_bench import run_pipeline
from bench.sequential import run_sequential
from bench.stages import WHAT_IF_X264, run_stages
from bench.streams import run_streams
from bench.targets import judge
from bench.timing import median, percentiles
from engines.metadata import ModelMeta, load_for_model
from engines.registry import check_model_file
from pipeline.config import load_config, parse_override
from pipeline.contracts import infer_workers
from segcore.files import check_folder, check_output_file, make_folder

MODES = ("engine", "stages", "sequential", "pipeline", "streams", "all")
OUTPUT_FOLDER = "output folder (--out)"


LIVE_WARMUP_S = 1.0  # latencies of a live run's first second (encoder start, first frames) are left out


@dataclass(frozen=True)
class Budget:
    """How much of everything a run does: ``--quick`` (< 60 s) or the default (~3 minutes)."""

    engine_rounds: int
    engine_seconds: float
    stage_frames: int
    rounds: int
    compare_frames: int
    live_frames: int  # frames of the 30 fps replay (the 60 fps one gets the same count)
    stream_frames: int  # frames per source in the multi-stream runs
    stream_counts: tuple[int, ...] = (1, 2, 4, 8)
    tuning: bool = True

    @classmethod
    def for_run(cls, quick: bool) -> Budget:
        if quick:
            return cls(engine_rounds=1, engine_seconds=0.75, stage_frames=30, rounds=1, compare_frames=60,
                       live_frames=90, stream_frames=36, tuning=False)
        return cls(engine_rounds=3, engine_seconds=1.2, stage_frames=100, rounds=3, compare_frames=120,
                   live_frames=240, stream_frames=75)


@dataclass
class Options:
    modes: tuple[str, ...] = ("all",)
    quick: bool = False
    model: Path | None = None
    clip: Path | None = None
    out: Path = Path("out/bench")
    json: Path | None = None
    overrides: tuple[str, ...] = ()  # --set key=value for the pipeline's config
    command: str = ""

    def wants(self, mode: str) -> bool:
        return "all" in self.modes or mode in self.modes


# the engine settings of the pipeline variants compared in the tuning rounds (ONNX models only)
TUNING_VARIANTS: dict[str, dict[str, Any]] = {
    "1 session × all cores, spinning (ONNX Runtime's defaults)": {
        "runtime.infer_workers": 1, "model.threads": 0, "model.options": {"spinning": True}},
    "1 session × all cores, no spinning": {"runtime.infer_workers": 1, "model.threads": 0},
}


@dataclass
class Bench:
    options: Options
    progress: Callable[[str], None] = lambda _line: None
    budget: Budget = field(init=False)
    model: Path = field(init=False)
    meta: ModelMeta = field(init=False)
    clip: Path = field(init=False)
    result: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.budget = Budget.for_run(self.options.quick)

    # ------------------------------------------------------------------ set-up

    def prepare(self) -> None:
        """Check every input and output first (nothing is written before), then make the clip."""
        out = self.options.out
        self.model = self.options.model or bundled_model()
        check_model_file(self.model)
        self.meta = load_for_model(self.model)
        self.settings = pipeline_settings(self.options.overrides)
        if self.options.clip is not None:
            self.clip = self.options.clip
            self.images = clips.read_clip(self.clip, 32)
        check_outputs(self.options, inputs=[self.model, self.model.with_suffix(".yaml"), *([self.clip] if self.options.clip else [])])
        make_folder(out, OUTPUT_FOLDER)
        if self.options.clip is None:
            target = out / clips.clip_name()
            if not target.is_file():
                self.progress(f"making the benchmark clip {target} (once) ...")
            self.clip = clips.make_clip(target)
            self.images = clips.decode_frames(self.clip, 32)
        height, width = self.images[0].shape[:2]
        self.result.update({
            "command": self.options.command,
            "quick": self.options.quick,
            "modes": list(self.options.modes),
            "machine": machine_info(),
            "model": {
                "path": str(self.model), "name": self.meta.name, "architecture": self.meta.architecture.get("name"),
                "input": f"{self.meta.input.height}x{self.meta.input.width}", "dtype": self.meta.input.dtype,
                "layout": self.meta.input.layout, "output": self.meta.output.kind, "precision": self.meta.precision,
                "classes": self.meta.num_classes,
                "weights": self.meta.provenance.get("weights") or _trained_from(self.meta.provenance),
            },
            "clip": {"path": str(self.clip), "size": f"{width}x{height}", "codec": "h264"},
            "pipeline_settings": dict(self.settings),
        })

    @property
    def onnx(self) -> bool:
        return self.model.suffix.lower() == ".onnx"

    # ------------------------------------------------------------------ modes

    def engine(self) -> None:
        self.progress("engine: every setting on real frames ...")
        sweep = run_engine_sweep(self.model, self.images, self.meta, rounds=self.budget.engine_rounds,
                                 seconds=self.budget.engine_seconds)
        for row in sweep["settings"]:
            self.progress(f"  {row['name']:<36} {row['fps']:6.1f} fps  latency p50 {row['latency_ms']['p50']} ms "
                          f"p99 {row['latency_ms']['p99']} ms  CPU {row['cpu_ms_per_frame']} ms/frame")
        self.result["engine"] = sweep
        self.best_setting = _setting(sweep["best"])
        self.result["engine_fps"] = sweep["best"]["fps"]
        self.result["engine_setting"] = sweep["best"]["name"]
        self.result["engine_latency_ms"] = sweep["lowest_latency"]["latency_ms"]
        self.result["engine_latency_setting"] = sweep["lowest_latency"]["name"]

    def stages(self) -> None:
        self.progress("stages: each alone on the same frames ...")
        config = load_config(values={"model.path": str(self.model), **self.settings})
        threads = config.model.threads
        workers = infer_workers(config, self.model)
        if workers > 1 and not threads:  # as the pipeline splits the cores between its sessions
            threads = max(1, (os.cpu_count() or 1) // workers)
        report = run_stages(self.clip, self.model, self.meta, count=self.budget.stage_frames, threads=threads,
                            options=dict(config.model.options), folder=self.options.out)
        for row in report["stages"] + report["alternatives"]:
            self.progress(f"  {row['stage']:<24} {row['wall_ms']:6.2f} ms wall  {row['cpu_ms']:6.2f} ms CPU per frame")
        self.progress(f"  CPU per frame {report['total_cpu_ms']} ms on {report['cores']} cores: at most "
                      f"{report['cpu_bound_fps']} fps for any pipeline doing this work")
        self.result["stages"] = report
        self.result["bottleneck_stage"] = report["bottleneck_stage"]

    def compare(self) -> None:
        """Rounds of: best engine setting, sequential loop, pipeline (+ tuning variants), rotated."""
        want_engine = "engine" in self.result
        want_sequential = self.options.wants("sequential")
        want_pipeline = self.options.wants("pipeline")
        if not (want_sequential or want_pipeline):
            return
        self.progress("side by side: " + ", ".join(
            name for name, on in (("engine", want_engine), ("sequential loop", want_sequential),
                                  ("pipeline", want_pipeline)) if on) + f" ({self.budget.rounds} round(s)) ...")
        frames = self.budget.compare_frames
        out = self.options.out
        runs: dict[str, Callable[[], dict[str, Any]]] = {}
        rig: EngineRig | None = None
        if want_engine:
            rig = EngineRig(self.model, self.best_setting, model_inputs(self.images, self.meta))
            runs["engine"] = lambda: rig.measure(self.budget.engine_seconds)  # type: ignore[union-attr]
        if want_sequential:
            for setting in self._sequential_settings():
                runs[f"sequential, {setting.name}"] = _sequential(self, setting, frames)
        if want_pipeline:
            runs["pipeline"] = lambda: run_pipeline(self.clip, self.model, video=out / "pipeline.mp4", frames=frames,
                                                    settings=self.settings)
            if self.budget.tuning and self.onnx and not self.options.overrides:
                for name, variant in TUNING_VARIANTS.items():
                    runs[name] = _variant(self, variant, frames)
                runs[f"x264 {WHAT_IF_X264} (what-if)"] = lambda: run_pipeline(
                    self.clip, self.model, video=out / "pipeline_whatif.mp4", frames=frames, settings=self.settings,
                    x264=WHAT_IF_X264)
                runs["OpenCV 1 thread (what-if)"] = lambda: run_pipeline(
                    self.clip, self.model, video=out / "pipeline_whatif.mp4", frames=frames, settings=self.settings,
                    opencv_threads=1)
        samples: dict[str, list[dict[str, Any]]] = {name: [] for name in runs}
        names = list(runs)
        try:
            for r in range(self.budget.rounds):
                shift = r % len(names)
                for name in names[shift:] + names[:shift]:
                    sample = runs[name]()
                    samples[name].append(sample)
                    self.progress(f"  round {r + 1}: {name:<58} {sample['fps']:6.1f} fps  (other processes: "
                                  f"{sample.get('other_processes_cores')} cores)")
        finally:
            if rig is not None:
                rig.close()
        self._summarise_rounds(samples)

    def _sequential_settings(self) -> list[EngineSetting]:
        """The loop runs one frame at a time: it gets one session on every core, with ONNX Runtime's
        threads spinning and not (its best counts), or the lowest-latency setting found."""
        engine = self.result.get("engine")
        if engine is None:
            return [EngineSetting(threads=0)] if self.onnx else [EngineSetting(backend="auto")]
        candidates = [_setting(row) for row in engine["settings"]
                      if row["workers"] == 1 and row["batch"] == 1 and row["threads"] == max_threads(engine)]
        return candidates or [_setting(engine["lowest_latency"])]

    def _summarise_rounds(self, samples: Mapping[str, list[dict[str, Any]]]) -> None:
        rounds = []
        for r in range(self.budget.rounds):
            rounds.append({name: runs[r]["fps"] for name, runs in samples.items()})
        self.result["rounds"] = rounds
        self.result["rounds_other_processes_cores"] = [
            {name: runs[r].get("other_processes_cores") for name, runs in samples.items()}
            for r in range(self.budget.rounds)
        ]
        fps = {name: median([run["fps"] for run in runs]) for name, runs in samples.items()}
        if "engine" in samples:
            sweep_runs = self.result["engine"]["best"]["fps_runs"]
            self.result["engine_fps"] = median([*sweep_runs, *(run["fps"] for run in samples["engine"])])
        loops = [name for name in samples if name.startswith("sequential")]
        if loops:
            best = max(loops, key=lambda name: fps[name] or 0.0)
            self.result["sequential_fps"] = fps[best]
            self.result["sequential"] = {
                "engine": samples[best][0]["engine"], "frames": samples[best][0]["frames"],
                "fps_runs": [run["fps"] for run in samples[best]],
                "cores_busy": median([run["cores_busy"] for run in samples[best]]),
                "variants": [{"engine": samples[name][0]["engine"], "fps": fps[name],
                              "fps_runs": [run["fps"] for run in samples[name]]} for name in loops],
            }
        if "pipeline" in samples:
            runs = samples["pipeline"]
            self.result["pipeline_fps"] = fps["pipeline"]
            self.result["pipeline_offline"] = {
                "frames": runs[0]["frames"], "fps_runs": [run["fps"] for run in runs],
                "cores_busy": median([run["cores_busy"] for run in runs]),
                "stage_latency_ms": runs[-1]["stage_latency_ms"], "e2e_latency_ms": runs[-1]["e2e_latency_ms"],
            }
        if "pipeline" in samples and loops:
            self.result["pipeline_over_sequential"] = _ratio(rounds, "pipeline", best)
        if "pipeline" in samples and "engine" in samples:
            self.result["pipeline_over_engine"] = _ratio(rounds, "pipeline", "engine")
        tuning = [name for name in samples if name != "engine" and name not in loops]
        if len(tuning) > 1:
            self.result["tuning"] = [
                {"variant": "configured (default config)" if name == "pipeline" else name,
                 "settings": samples[name][0]["settings"], "x264_preset": samples[name][0]["x264_preset"],
                 "opencv_threads": samples[name][0]["opencv_threads"],
                 "fps": fps[name], "fps_runs": [run["fps"] for run in samples[name]],
                 "over_configured": _ratio(rounds, name, "pipeline"),
                 "cores_busy": median([run["cores_busy"] for run in samples[name]])}
                for name in tuning
            ]

    def live(self) -> None:
        self.progress("pipeline live: the clip paced like a camera at 30 and 60 fps ...")
        frames = self.budget.live_frames
        for fps in (30, 60):
            clip = self.clip if fps == clips.CLIP_FPS else clips.retime_clip(self.clip, fps)
            run = self._live_run(clip, f"live_{fps}", frames, fps, self.settings)
            self.result[f"pipeline_live_{fps}"] = run
            self.result.setdefault("e2e_samples_ms", {})[f"live_{fps}"] = run.pop("e2e_samples_ms")
        self.result["e2e_latency_ms"] = {f"live_{fps}": self.result[f"pipeline_live_{fps}"]["e2e_exact_ms"]
                                         for fps in (30, 60)}
        if self.budget.tuning and self.onnx and not self.options.overrides:
            variants = []
            for name, variant, x264 in (
                ("1 session × all cores, no spinning", TUNING_VARIANTS["1 session × all cores, no spinning"], None),
                (f"x264 {WHAT_IF_X264} (what-if)", self.settings, WHAT_IF_X264),
            ):
                run = self._live_run(self.clip, f"live_30 {name}", self.budget.live_frames // 2, 30, variant, x264)
                run.pop("e2e_samples_ms")
                variants.append({"variant": name, **run})
            self.result["live_30_variants"] = variants

    def _live_run(self, clip: Path, label: str, frames: int, fps: int, settings: Mapping[str, Any],
                  x264: str | None = None) -> dict[str, Any]:
        """A paced run of ``frames`` plus a second of warm-up, whose latencies are left out."""
        warmup = int(LIVE_WARMUP_S * fps)
        run = run_pipeline(clip, self.model, video=self.options.out / "live.mp4", frames=frames + warmup,
                           pace=True, settings=settings, x264=x264)
        warmup = min(warmup, len(run["e2e_samples_ms"]) // 4)  # a short clip keeps most of its samples
        run["warmup_frames"] = warmup
        run["e2e_samples_ms"] = run["e2e_samples_ms"][warmup:]
        run["e2e_exact_ms"] = percentiles(run["e2e_samples_ms"])
        e2e = run["e2e_exact_ms"]
        self.progress(f"  {label}: {run['fps']:.1f} fps delivered, e2e p50 {e2e['p50']} p95 {e2e['p95']} "
                      f"p99 {e2e['p99']} ms, dropped {run['dropped']} of {run['captured']} "
                      f"(other processes: {run['other_processes_cores']} cores)")
        return run

    def streams(self) -> None:
        self.progress("streams: 1, 2, 4, 8 cameras at 30 fps each ...")
        folder = self.options.out / "streams"
        folder.mkdir(parents=True, exist_ok=True)
        self.result["streams"] = run_streams(
            self.clip, self.model, counts=self.budget.stream_counts, frames=self.budget.stream_frames, folder=folder,
            settings=self.settings, progress=self.progress)

    # ------------------------------------------------------------------ the whole run

    def run(self) -> dict[str, Any]:
        started = time.monotonic()
        self.prepare()
        if self.options.wants("engine"):
            self.engine()
        if self.options.wants("stages"):
            self.stages()
        self.compare()
        if self.options.wants("pipeline"):
            self.live()
        if self.options.wants("streams"):
            self.streams()
        self.result["targets"] = judge(self.result)
        self.result["load_average_end"] = load_average()
        self.result["duration_s"] = round(time.monotonic() - started, 1)
        return self.result


# --------------------------------------------------------------------------- helpers


def _trained_from(provenance: Mapping[str, Any]) -> str | None:
    checkpoint = provenance.get("checkpoint")
    return f"trained (checkpoint {checkpoint})" if checkpoint else None


def bundled_model() -> Path:
    from engines.errors import ModelError
    from engines.weights import default_model_path

    path = default_model_path()
    if not path.is_file():
        raise ModelError(
            f"the bundled model {path} is not there yet; pass --model PATH, e.g. a stand-in with the same "
            "architecture and I/O: python -m engines.models.export --model lraspp_mobilenet_v3_large --num-classes 19 "
            "--input-size 256x512 --uint8-input --argmax --out /tmp/bench_model --name lraspp_mbv3_street"
        )
    return path


def check_outputs(options: Options, inputs: Sequence[Path]) -> None:
    """``OutputError`` unless ``--out`` and ``--json`` can be written and neither lands on an input."""
    check_folder(options.out, OUTPUT_FOLDER)
    if options.json is not None:
        check_output_file(options.json, "--json file", inputs=inputs)


def pipeline_settings(overrides: Sequence[str]) -> dict[str, Any]:
    """``--set key=value`` pairs as config values (checked by building a config from them)."""
    values = dict(parse_override(text) for text in overrides)
    load_config(values=values)
    return values


def _setting(row: Mapping[str, Any]) -> EngineSetting:
    return EngineSetting(threads=row["threads"], spinning=row["spinning"], workers=row["workers"], batch=row["batch"],
                         backend=row["backend"])


def max_threads(engine: Mapping[str, Any]) -> int:
    return max(int(row["threads"]) for row in engine["settings"])


def _sequential(bench: Bench, setting: EngineSetting, frames: int) -> Callable[[], dict[str, Any]]:
    return lambda: run_sequential(bench.clip, bench.model, bench.meta, frames=frames, threads=setting.threads,
                                  options=setting.options, video=bench.options.out / "sequential.mp4")


def _variant(bench: Bench, variant: Mapping[str, Any], frames: int) -> Callable[[], dict[str, Any]]:
    return lambda: run_pipeline(bench.clip, bench.model, video=bench.options.out / "pipeline_variant.mp4",
                                frames=frames, settings=variant)


def _ratio(rounds: Sequence[Mapping[str, float]], top: str, bottom: str) -> float | None:
    """The median over rounds of top/bottom, each pair measured in the same round."""
    ratios = [r[top] / r[bottom] for r in rounds if r.get(top) and r.get(bottom)]
    return median(ratios, 3)
