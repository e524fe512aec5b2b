"""What serving the model from Triton costs and gives, measured side by side in one run.

    python -m bench.triton --json out/triton.json      # the figures in docs/benchmarks.md, "Triton"

Starts a local Triton server (``tools.triton_server``) with the model served through the Python
backend (ONNX Runtime inside the server, ``--instances`` × ``--threads``), then measures, in rounds
whose order rotates so load from elsewhere hits every setting alike:

* per-frame latency of one request at a time, the triton engine against the in-process ONNX Runtime
  engine with the same intra-op threads as one server instance, each frame sent to both back to
  back (order rotating); the overhead is the per-frame difference (gRPC, serialisation, the
  server's queue and the Python backend), p50/p99 over all rounds;
* the same through system shared memory (``model.options.shared_memory``: the server is local);
* throughput of 1, 4 and 8 camera workers (separate processes, each one triton engine sending one
  frame at a time, as ``segstream`` processes would) against the one server, next to the
  in-process reference (the pipeline's default on this machine: 2 sessions × 1 thread).

Frames are real synthetic street frames fitted to the model input, never zeros.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.machine import machine_info
from bench.timing import percentiles
from engines.metadata import load_for_model
from engines.registry import open_engine
from engines.transforms import fit, to_input
from engines.triton.repository import RepoOptions, write_repository
from engines.weights import default_model_path
from segcore.exits import CommandParser, float_range, int_range, run_command
from segcore.files import check_output_file, write_json
from streetsim import StreetScene, SyntheticSpec

NAME = "seg"


def frames(model: Path, count: int = 16) -> list[np.ndarray]:
    meta = load_for_model(model)
    out = []
    for seed in range(count):
        spec = SyntheticSpec.from_uri(f"synthetic://street?seed={60000 + seed}&frames=1&size=1280x720")
        image, _ = StreetScene(spec).render(0)
        out.append(to_input([fit(image, meta.input.height, meta.input.width)[0]], meta.input))
    return out


def _latency(engines: dict[str, Any], inputs: list[np.ndarray], count: int, turn: int) -> dict[str, list[float]]:
    """``count`` frames, each sent to every engine in turn (the order rotating per frame), so a burst
    of load from elsewhere hits all alike and the per-frame differences pair up."""
    names = list(engines)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for i in range(count):
        k = (i + turn) % len(names)
        for name in names[k:] + names[:k]:
            t0 = time.perf_counter()
            engines[name].infer(inputs[i % len(inputs)])
            samples[name].append((time.perf_counter() - t0) * 1000.0)
    return samples


def _worker(model: str, options: dict[str, Any], ready: Any, seconds: float, results: Any) -> None:
    try:
        inputs = frames(Path(options.pop("frames_from")))
        engine = open_engine(model, **options)
        engine.warmup(2)
    except BaseException as exc:
        results.put(f"{type(exc).__name__}: {exc}")
        ready.abort()  # the others and the parent stop waiting
        raise
    ready.wait()  # every worker starts together, once all are warm
    done, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        engine.infer(inputs[done % len(inputs)])
        done += 1
    results.put(done / (time.perf_counter() - t0))
    engine.close()


def throughput(model: str, options: dict[str, Any], workers: int, seconds: float) -> float:
    """Frames per second of ``workers`` processes, each running one engine on ``model`` for ``seconds``."""
    context = multiprocessing.get_context("spawn")
    ready, results = context.Barrier(workers + 1), context.Queue()
    procs = [context.Process(target=_worker, args=(model, dict(options), ready, seconds, results))
             for _ in range(workers)]
    for proc in procs:
        proc.start()
    try:
        try:
            ready.wait(timeout=300)
        except threading.BrokenBarrierError:
            raise RuntimeError(f"a worker could not start: {results.get(timeout=10)}") from None
        rates = [results.get(timeout=seconds + 60) for _ in procs]
    finally:
        for proc in procs:
            proc.join(10)
            if proc.is_alive():
                proc.kill()
    return float(sum(rates))


def measure(model: Path, *, instances: int, threads: int, workers: list[int], seconds: float, rounds: int,
            requests: int) -> dict[str, Any]:
    from tools.triton_server import TritonServer, ensure_env

    machine = machine_info()  # its load average is the one at the start
    inputs = frames(model)
    with tempfile.TemporaryDirectory(prefix="segstream-triton-bench-") as tmp:
        write_repository(model, tmp, RepoOptions(kind="python", name=NAME, instances=instances, threads=threads))
        with TritonServer(tmp, env=ensure_env(), log_path=Path(tmp) / "server.log") as server:
            uri = f"triton://{server.url}/{NAME}"
            local = open_engine(model, backend="onnxruntime", device="cpu", threads=threads)
            remote = open_engine(uri)
            shared = open_engine(uri, shared_memory=True)
            engines = {"in-process": local, "triton": remote, "triton, shared memory": shared}
            for engine in engines.values():
                engine.warmup(5)
            latency: dict[str, list[float]] = {name: [] for name in engines}
            fps: dict[str, list[float]] = {}
            settings: list[tuple[str, str, dict[str, Any], int]] = [
                ("in-process", str(model), {"backend": "onnxruntime", "device": "cpu", "threads": 1}, 2)]
            remote_options: dict[str, Any] = {"timeout_s": 120.0}  # a loaded 2-core machine can take long to accept 8 connections
            settings += [(f"triton × {w}", uri, remote_options, w) for w in workers]
            settings += [(f"triton × {w}, shared memory", uri, {**remote_options, "shared_memory": True}, w)
                         for w in workers if w > 1][:1]
            for r in range(rounds):
                for name, values in _latency(engines, inputs, requests, r).items():
                    latency[name] += values
                rotated = settings[r % len(settings):] + settings[: r % len(settings)]
                for name, target, options, count in rotated:
                    fps.setdefault(name, []).append(
                        throughput(target, {**options, "frames_from": str(model)}, count, seconds))
            for engine in engines.values():
                engine.close()
    lat = {name: percentiles(values) for name, values in latency.items()}
    # the overhead: per frame, the remote call minus the in-process call on the same frame, back to back
    overhead = {name: percentiles(np.subtract(latency[name], latency["in-process"]).tolist())
                for name in lat if name != "in-process"}
    return {
        "model": str(model), "server": {"instances": instances, "threads": threads, "kind": "python (ONNX Runtime)"},
        "rounds": rounds, "seconds": seconds, "requests_per_round": requests,
        "latency_ms": lat, "overhead_ms": overhead,
        "throughput_fps": {name: {"median": round(float(np.median(v)), 1), "rounds": [round(x, 1) for x in v]}
                           for name, v in fps.items()},
        "in_process_reference": "2 processes × 1 ONNX Runtime thread (the pipeline's default here: 2 sessions)",
        "machine": machine, "load_average_end": list(os.getloadavg()),
    }


def table(result: dict[str, Any]) -> str:
    lat, over = result["latency_ms"], result["overhead_ms"]
    lines = ["| per frame, one request at a time | p50 ms | p99 ms |", "|---|---|---|"]
    for name, values in lat.items():
        lines.append(f"| {name} | {values['p50']} | {values['p99']} |")
    for name, values in over.items():
        lines.append(f"| overhead of {name} | {values['p50']} | {values['p99']} |")
    lines += ["", "| workers | frames/s (median of rounds) | rounds |", "|---|---|---|"]
    for name, values in result["throughput_fps"].items():
        lines.append(f"| {name} | {values['median']} | {', '.join(map(str, values['rounds']))} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    return run_command(_main, argv)


def _main(args: list[str]) -> int:
    p = CommandParser(prog="python -m bench.triton", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, default=default_model_path(), help="an ONNX model (default: the bundled one)")
    p.add_argument("--instances", type=int_range(1, 16), default=2, help="server instances (default %(default)s)")
    p.add_argument("--threads", type=int_range(1, 16), default=1, help="ONNX Runtime threads per instance")
    p.add_argument("--workers", default="1,4,8", help="camera worker counts to measure (default %(default)s)")
    p.add_argument("--seconds", type=float_range(1, 600), default=6.0, help="per throughput measurement")
    p.add_argument("--rounds", type=int_range(1, 20), default=5)
    p.add_argument("--requests", type=int_range(10, 10000), default=60, help="latency requests per round and engine")
    p.add_argument("--json", type=Path, help="write the result here")
    options = p.parse_args(args)
    workers = [int(w) for w in options.workers.split(",") if w.strip()]
    if options.json:
        check_output_file(options.json, "--json file")
    result = measure(options.model, instances=options.instances, threads=options.threads, workers=workers,
                     seconds=options.seconds, rounds=options.rounds, requests=options.requests)
    result["command"] = "python -m bench.triton " + " ".join(args)
    result["cpu_count"] = os.cpu_count()
    print(table(result))
    if options.json:
        write_json(result, options.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
