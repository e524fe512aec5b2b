"""One command that runs every CUDA path of segstream on a GPU machine and writes what it measured.

    tools/gpu_check.sh                  # on the GPU machine, from anywhere; results in $OUT (or out/gpu_check)
    tools/gpu_check.sh --dry-run        # on a CPU: every step but the CUDA calls, small, under a minute (CI)
    python -m tools.gpu_check --out DIR --budget-s 450 --only agreement,engine

Items, in order, each in its own time box (its numbers so far are kept when the box runs out, and
one failing item never loses the others); the JSON and the Markdown table are rewritten after
every item, so even a run cut short leaves what it measured:

    environment   device, driver, CUDA, versions, CPU, date, commit
    gpu_tests     ``pytest -m gpu`` on the CUDA tests (a subprocess, its own timeout)
    prepare       the bundled LR-ASPP's trained weights as a .pt checkpoint; the 1080p street clip
    agreement     class maps of the CUDA engine (fp32, fp16) vs ONNX Runtime on the CPU (>= 99.5 %)
    engine        the engine alone: 256×512, 512×1024, 1024×2048; fp32/fp16; batch 1/8; CUDA
                  graphs on/off; argmax in the graph vs fp16 logits + argmax on the GPU
    pipeline      the whole pipeline on the clip: offline fps, live 30/60 fps latency, device
                  path on/off; its class maps vs ONNX Runtime's host path on the same frames
    streams       1, 4, 8, 16 concurrent 1080p streams batched across sources: aggregate fps,
                  per-stream latency, GPU and CPU utilisation

The whole run stays within ``--budget-s`` (default 420 s, under the 8 minutes a GPU lease
allows; docs/gpu.md has the exact command). Exit 0 when every item ran and every check passed, 1 otherwise (the files say which).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a file or through tools/gpu_check.sh from anywhere
    sys.path.insert(0, str(ROOT))

from segcore.exits import CommandParser, float_range, run_command  # noqa: E402
from segcore.files import check_folder, make_folder  # noqa: E402
from tools import gpu_measure, gpu_pipeline  # noqa: E402
from tools.gpu_report import markdown  # noqa: E402

GPU_TESTS = ("tests/engines/test_gpu.py", "tests/pipeline/test_on_device.py")


@dataclass
class Plan:
    """What to measure: the real plan on CUDA, a small one on the CPU for ``--dry-run``."""

    dry_run: bool
    device: str = "cuda"
    budget_s: float = 420.0
    engine_sizes: list[tuple[int, int]] = field(default_factory=lambda: [(256, 512), (512, 1024), (1024, 2048)])
    argmax_size: tuple[int, int] = (512, 1024)
    batches: list[int] = field(default_factory=lambda: [1, 8])
    timing: dict[str, Any] = field(default_factory=lambda: {"reps": 5, "min_s": 0.2, "max_calls": 2000})
    clip_size: tuple[int, int] = (1920, 1080)
    clip_frames: int = 300
    clip_unique: int = 60
    fps: int = 30
    live_rates: list[int] = field(default_factory=lambda: [30, 60])  # live runs: the clip paced at these fps
    pipeline_frames: int = 300
    compare_frames: int = 16
    stream_counts: list[int] = field(default_factory=lambda: [1, 4, 8, 16])
    stream_frames: int = 150
    street_frames: int = 8
    min_agreement: float = 0.995
    use_pyav: bool = True  # decode and encode the clip with PyAV where it is installed (the GPU machine has none)
    boxes: dict[str, float] = field(default_factory=lambda: {
        "environment": 20, "gpu_tests": 75, "prepare": 40, "agreement": 30, "engine": 100, "pipeline": 75,
        "streams": 80})

    @classmethod
    def small(cls, budget_s: float) -> Plan:
        """The dry run: the CPU device, tiny sizes, one call per timing, three frames per pipeline run."""
        return cls(dry_run=True, device="cpu", budget_s=budget_s, engine_sizes=[(64, 128)], argmax_size=(64, 128),
                   batches=[1, 2], timing={"reps": 1, "min_s": 0.0, "max_calls": 1}, clip_size=(320, 180),
                   clip_frames=6, clip_unique=3, pipeline_frames=3, compare_frames=3, live_rates=[60], stream_counts=[2],
                   stream_frames=3, street_frames=2, use_pyav=False,  # the GPU machine's OpenCV-only path
                   boxes={"environment": 10, "gpu_tests": 30, "prepare": 15, "agreement": 15, "engine": 10,
                          "pipeline": 40, "streams": 30})


@dataclass
class Context:
    plan: Plan
    work: Path
    onnx_path: Path = Path()
    checkpoint: Path = Path()
    meta: Any = None
    clip: dict[str, Any] = field(default_factory=dict)
    street_frames: list[Any] = field(default_factory=list)
    decoder: str = "auto"
    device_maps: dict[int, Any] = field(default_factory=dict)


def environment(ctx: Context, deadline: float) -> dict[str, Any]:
    import cv2
    import numpy as np
    import onnxruntime
    import torch

    info: dict[str, Any] = {
        "date_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "python": platform.python_version(),
        "platform": platform.platform(), "cpu_cores": os.cpu_count(), "cpu": _cpu_model(),
        "torch": torch.__version__, "torch_cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(),
        "cudnn_benchmark": torch.backends.cudnn.benchmark,  # left as torch sets it; recorded, not changed
        "onnxruntime": onnxruntime.__version__, "opencv": cv2.__version__, "numpy": np.__version__,
        "pyav": _version("av"), "commit": _commit(), "dry_run": ctx.plan.dry_run, "device": ctx.plan.device,
    }
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info.update(gpu=props.name, gpu_memory_gib=round(props.total_memory / 2**30, 1),
                    compute_capability=f"{props.major}.{props.minor}", gpus=torch.cuda.device_count())
    smi = _run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total,clocks.max.sm,power.limit",
                "--format=csv,noheader"])
    info["nvidia_smi"] = smi or "nvidia-smi not found"
    if smi:
        info["driver"] = smi.split(",")[1].strip()
    return info


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def _version(module: str) -> str | None:
    try:
        return str(__import__(module).__version__)
    except ImportError:
        return None


def _run(command: list[str], timeout: float = 10) -> str | None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _commit() -> str | None:
    found = _run(["git", "rev-parse", "--short", "HEAD"])
    if found:
        return found
    head = ROOT / ".git" / "HEAD"  # no git binary: read the ref by hand (a worktree's .git is a file)
    try:
        ref = head.read_text().strip()
        return (ROOT / ".git" / ref[5:]).read_text().strip()[:9] if ref.startswith("ref: ") else ref[:9]
    except OSError:
        return None


def gpu_tests(ctx: Context, deadline: float) -> dict[str, Any]:
    """``pytest -m gpu`` in a subprocess; on the CPU every test must skip cleanly, on CUDA pass."""
    try:
        import pytest  # noqa: F401
    except ImportError:
        return {"status": "failed: pytest is not installed here; bring its wheel (docs/gpu.md)"}
    command = [sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-rs", "-p", "no:cacheprovider", *GPU_TESTS]
    try:
        done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT,
                              timeout=max(5.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        return {"status": "failed: timed out", "tail": out[-3000:]}
    tail = done.stdout[-3000:]
    summary = next((ln for ln in reversed(done.stdout.splitlines()) if " in " in ln and "=" in ln), "")
    ok = done.returncode == 0 and "failed" not in summary and "error" not in summary
    if ok and not ctx.plan.dry_run and " passed" not in summary:
        ok = False  # on a GPU machine, everything skipped means nothing was checked
    return {"status": "ok" if ok else f"failed: exit {done.returncode}", "summary": summary.strip("= "), "tail": tail}


def prepare(ctx: Context, deadline: float) -> dict[str, Any]:
    from engines.metadata import load_for_model
    from engines.models.onnx_weights import network_from_onnx, write_checkpoint
    from engines.weights import default_model_path
    from streetsim import StreetScene, SyntheticSpec

    ctx.onnx_path = default_model_path()
    ctx.meta = load_for_model(ctx.onnx_path)
    ctx.checkpoint = write_checkpoint(network_from_onnx(ctx.onnx_path, ctx.meta), ctx.meta, ctx.work / "street.pt")
    plan = ctx.plan
    use_pyav = plan.use_pyav and gpu_pipeline.has_pyav()
    ctx.decoder = "pyav" if use_pyav else "opencv"
    scene = StreetScene(SyntheticSpec.from_uri("synthetic://street?seed=11&frames=400&size=1280x720"))
    ctx.street_frames = [scene.render(i * 50)[0] for i in range(plan.street_frames)]
    ctx.clip = gpu_pipeline.make_clip(ctx.work, plan.clip_size, plan.clip_frames, plan.fps, plan.clip_unique,
                                      use_pyav=use_pyav)
    return {"model": ctx.onnx_path.name, "checkpoint": ctx.checkpoint.name, "decoder": ctx.decoder,
            "clip": {k: v for k, v in ctx.clip.items() if k != "paths"}}


ITEMS: list[tuple[str, Callable[[Context, float], dict[str, Any]]]] = [
    ("environment", environment), ("gpu_tests", gpu_tests), ("prepare", prepare),
    ("agreement", gpu_measure.agreement), ("engine", gpu_measure.engine_sweep),
    ("pipeline", gpu_pipeline.pipeline_runs), ("streams", gpu_pipeline.stream_runs),
]
NEEDS_PREPARE = {"agreement", "engine", "pipeline", "streams"}


def run_item(name: str, work: Callable[[Context, float], dict[str, Any]], ctx: Context, box_s: float,
             on_hang: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """``work`` with a deadline it checks itself between its settings; an exception is recorded.

    It runs on the main thread (torch's CPU thread pools, set up by a thread that then exits,
    slowed every later CPU run tenfold here). A watchdog calls ``on_hang`` with this item's
    entry if the item outlives its box by 30 s (a hung CUDA call never returns; the caller then
    writes what it has and exits).
    """
    start = time.monotonic()
    done = threading.Event()

    def watch() -> None:
        if not done.wait(box_s + 30):
            on_hang({"status": "failed: did not finish in its time box (hung?)", "box_s": box_s,
                     "seconds": round(time.monotonic() - start, 1)})

    threading.Thread(target=watch, name=f"gpu-check-watch-{name}", daemon=True).start()
    try:
        result = work(ctx, start + box_s)
    except Exception as exc:  # recorded, and the next item runs
        return {"status": f"failed: {type(exc).__name__}: {exc}"[:500], "seconds": round(time.monotonic() - start, 1),
                "traceback": traceback.format_exc()[-2000:]}
    finally:
        done.set()
    return {"status": _status(result), "seconds": round(time.monotonic() - start, 1), "box_s": box_s, "result": result}


def _status(result: Any) -> str:
    """``failed`` when any status inside says so, else ``ok``."""
    if isinstance(result, dict):
        own = result.get("status")
        if isinstance(own, str) and own.startswith("failed"):
            return own
        children = list(result.values())
    elif isinstance(result, list):
        children = result
    else:
        return "ok"
    inner = [_status(child) for child in children if isinstance(child, (dict, list))]
    return next((s for s in inner if s.startswith("failed")), "ok")


def check(plan: Plan, out: Path, only: set[str] | None = None) -> dict[str, Any]:
    make_folder(out, "--out folder")
    started = time.monotonic()
    report: dict[str, Any] = {"tool": "tools/gpu_check.py", "dry_run": plan.dry_run, "budget_s": plan.budget_s,
                              "items": {}}
    if plan.dry_run:
        import torch

        # one intra-op thread: on a busy 2-core machine torch's spinning thread pool turned a
        # 64x128 forward pass from ~0.1 s into seconds; the dry run checks code paths, not speed
        torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="gpu_check_") as work:
        ctx = Context(plan, Path(work))
        for name, item in ITEMS:
            if only is not None and name not in only and not (name == "prepare" and only & NEEDS_PREPARE):
                continue
            left = plan.budget_s - (time.monotonic() - started)
            if name in NEEDS_PREPARE and report["items"].get("prepare", {}).get("status") != "ok":
                entry: dict[str, Any] = {"status": "failed: not run, prepare failed"}
            elif left < 5:
                entry = {"status": "failed: not run, the total budget is spent"}
            else:
                print(f"gpu_check: {name} (box {min(plan.boxes[name], left):.0f} s)", file=sys.stderr, flush=True)

                def hung(entry: dict[str, Any], name: str = name) -> None:
                    report["items"][name] = entry
                    report["passed"] = False
                    write(report, out)
                    print(f"gpu_check: {name} hung; wrote what was measured and exit", file=sys.stderr, flush=True)
                    os._exit(1)

                entry = run_item(name, item, ctx, min(plan.boxes[name], left), hung)
            report["items"][name] = entry
            report["seconds"] = round(time.monotonic() - started, 1)
            write(report, out)
    report["passed"] = all(e["status"] == "ok" for e in report["items"].values())
    write(report, out)
    return report


def write(report: dict[str, Any], out: Path) -> None:
    for path, text in ((out / "gpu_check.json", json.dumps(report, indent=1, default=str)),
                       (out / "gpu_check.md", markdown(report))):
        partial = path.with_name(path.name + ".partial")
        partial.write_text(text)
        partial.replace(path)


def build_parser() -> CommandParser:
    parser = CommandParser(prog="tools/gpu_check.sh", description="Run and measure every CUDA path (docs/gpu.md).")
    parser.add_argument("--dry-run", action="store_true", help="CPU device, small sizes: every step but the CUDA calls")
    parser.add_argument("--out", type=Path, default=None, help="folder for gpu_check.json/.md (default: $OUT, else out/gpu_check)")
    parser.add_argument("--budget-s", type=float_range(10, 3600), default=None, help="total seconds (default 420; dry run 55)")
    parser.add_argument("--only", default=None, help=f"comma-separated items of: {', '.join(n for n, _ in ITEMS)}")
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_command(_main, sys.argv[1:] if argv is None else argv)


def _main(argv: list[str]) -> int:
    from segcore.errors import ConfigError

    args = build_parser().parse_args(argv)
    budget = args.budget_s if args.budget_s is not None else (55.0 if args.dry_run else 420.0)
    only = None
    if args.only:
        only = {n.strip() for n in args.only.split(",") if n.strip()}
        unknown = only - {n for n, _ in ITEMS}
        if unknown:
            raise ConfigError(f"--only names {', '.join(sorted(unknown))}; choose from {', '.join(n for n, _ in ITEMS)}")
    if not args.dry_run:
        import torch

        if not torch.cuda.is_available():
            raise ConfigError(f"this torch ({torch.__version__}) sees no CUDA GPU; run on a GPU machine or pass --dry-run")
    out = check_folder(args.out or Path(os.environ.get("OUT") or ROOT / "out" / "gpu_check"), "--out folder")
    plan = Plan.small(budget) if args.dry_run else Plan(dry_run=False, budget_s=budget)
    report = check(plan, out, only)
    print(markdown(report))
    print(f"wrote {out / 'gpu_check.json'} and {out / 'gpu_check.md'}", file=sys.stderr)
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
