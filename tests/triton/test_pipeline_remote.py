"""Whole runs with ``--model triton://...`` against a real server on 127.0.0.1: the same class maps
as the local model, a server killed and restarted mid-run (offline: every frame, in order and right;
live: drops counted, then results again), and two pipelines sharing one server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import tritonclient.grpc as grpcclient

from pipeline import CallbackSink, Pipeline, SegResult, load_config
from tests.triton.conftest import MODEL
from tools.triton_server import TritonServer

ROOT = Path(__file__).resolve().parents[2]


def _masks(folder: Path) -> dict[str, np.ndarray]:
    return {p.name: cv2.imread(str(p), cv2.IMREAD_UNCHANGED) for p in sorted(folder.glob("*.png"))}


def test_the_command_gives_the_local_models_class_maps(triton_server: TritonServer, tiny_model: Path,
                                                       tmp_path: Path) -> None:
    source = "synthetic://street?seed=3&frames=12&size=256x128"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for name, model in (("remote", f"triton://{triton_server.url}/{MODEL}"), ("local", str(tiny_model))):
        result = subprocess.run([sys.executable, str(ROOT / "run_stream.py"), source, "--model", model,
                                 "--masks", str(tmp_path / name), "--json", str(tmp_path / f"{name}.json")],
                                capture_output=True, text=True, timeout=120, env=env)
        assert result.returncode == 0, result.stderr
    remote, local = _masks(tmp_path / "remote"), _masks(tmp_path / "local")
    assert len(remote) == 12 and remote.keys() == local.keys()
    for name in remote:
        np.testing.assert_array_equal(remote[name], local[name], err_msg=name)


def _run(model: str, source: str, *overrides: str, on_result: Any = None) -> tuple[dict[str, Any], list[SegResult]]:
    results: list[SegResult] = []

    def collect(result: SegResult) -> None:
        results.append(result)
        if on_result is not None:
            on_result(len(results))

    config = load_config(None, [f"source.uris=[{source!r}]", f"model.path={model!r}", *overrides])
    summary = Pipeline.from_config(config, sinks=[CallbackSink(collect)]).run()
    return summary, results


@pytest.mark.slow
def test_offline_a_killed_and_restarted_server_loses_no_frame(own_server: TritonServer, tiny_model: Path) -> None:
    source = "synthetic://street?seed=4&frames=60&size=256x128"
    restarted: list[threading.Timer] = []

    def crash(count: int) -> None:
        if count == 15:
            own_server.kill()
            restarted.append(threading.Timer(1.0, own_server.start))
            restarted[0].start()

    summary, results = _run(f"triton://{own_server.url}/{MODEL}", source, "model.options.retry_for_s=60",
                            on_result=crash)
    restarted[0].join()
    _, expected = _run(str(tiny_model), source)
    assert [r.frame.index for r in results] == list(range(60)) and summary["dropped"] == 0
    for got, want in zip(results, expected, strict=True):
        np.testing.assert_array_equal(got.class_map, want.class_map)
    server = summary["model"]["server"]
    assert server["outages"] >= 1 and server["waited_s"] > 0.5 and server["failed_requests"] == 0


@pytest.mark.slow
def test_live_a_killed_and_restarted_server_drops_frames_and_recovers(own_server: TritonServer) -> None:
    source = "synthetic://street?seed=5&frames=180&size=256x128&fps=30"
    killed_at: list[int] = []
    restarted: list[threading.Timer] = []

    def crash(count: int) -> None:
        if count == 10:
            own_server.kill()
            killed_at.append(count)
            restarted.append(threading.Timer(1.0, own_server.start))
            restarted[0].start()

    summary, results = _run(f"triton://{own_server.url}/{MODEL}", source, "source.mode=live", "source.pace=true",
                            "model.options.retry_for_s=60", on_result=crash)
    restarted[0].join()
    assert summary["live"] and summary["dropped"] > 0
    indices = [r.frame.index for r in results]
    assert indices == sorted(indices) and len(results) + summary["dropped"] == 180
    assert len(results) > killed_at[0] + 30  # results came again after the restart
    server = summary["model"]["server"]
    assert server["outages"] >= 1 and server["state"] == "answering" and server["failed_requests"] == 0


def _stats(url: str) -> tuple[int, int]:
    client = grpcclient.InferenceServerClient(url)
    try:
        stats = client.get_inference_statistics(MODEL, as_json=True)["model_stats"][0]
    finally:
        client.close()
    return int(stats.get("inference_count", 0)), int(stats.get("execution_count", 0))


@pytest.mark.slow
def test_two_pipelines_share_one_server_and_their_requests_merge(triton_server: TritonServer, tiny_model: Path) -> None:
    uri = f"triton://{triton_server.url}/{MODEL}"
    sources = [f"synthetic://street?seed={seed}&frames=40&size=256x128" for seed in (11, 12)]
    outcomes: dict[str, tuple[dict[str, Any], list[SegResult]]] = {}
    before = _stats(triton_server.url)
    threads = [threading.Thread(target=lambda s=s: outcomes.__setitem__(s, _run(uri, s))) for s in sources]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    after = _stats(triton_server.url)
    for source in sources:
        summary, results = outcomes[source]
        _, expected = _run(str(tiny_model), source)
        assert [r.frame.index for r in results] == list(range(40))
        for got, want in zip(results, expected, strict=True):
            np.testing.assert_array_equal(got.class_map, want.class_map)
    inferences, executions = after[0] - before[0], after[1] - before[1]
    assert inferences >= 80 and executions < inferences  # the dynamic batcher merged requests of both


@pytest.mark.slow
def test_the_command_says_when_the_server_goes_and_comes_back(own_server: TritonServer, tmp_path: Path) -> None:
    source = "synthetic://street?seed=6&frames=240&size=256x128&fps=30"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.Popen([sys.executable, str(ROOT / "run_stream.py"), source, "--live", "--pace",
                            "--model", f"triton://{own_server.url}/{MODEL}", "--json", str(tmp_path / "s.json")],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 60
        while _stats(own_server.url)[0] < 20 and time.monotonic() < deadline:  # the run is under way
            time.sleep(0.1)
        own_server.kill()
        time.sleep(2.0)
        own_server.start()
        _, err = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 0, err
    assert "not answering" in err and "answering again" in err, err
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["dropped"] > 0 and summary["model"]["server"]["outages"] >= 1


def test_a_live_stop_does_not_wait_for_a_server_that_is_gone(own_server: TritonServer) -> None:
    source = "synthetic://street?seed=8&frames=0&size=256x128&fps=30"  # endless, like a camera
    config = load_config(None, [f"source.uris=[{source!r}]", f"model.path='triton://{own_server.url}/{MODEL}'",
                                "source.mode=live", "source.pace=true", "model.options.retry_for_s=60"])
    results: list[SegResult] = []
    pipe = Pipeline.from_config(config, sinks=[CallbackSink(results.append)])
    pipe.start()
    try:
        deadline = time.monotonic() + 30
        while len(results) < 10 and time.monotonic() < deadline:
            time.sleep(0.05)
        own_server.kill()
        deadline = time.monotonic() + 30
        while pipe.stats()["model"]["server"]["state"] == "answering" and time.monotonic() < deadline:
            time.sleep(0.05)
        stopped = time.monotonic()
        pipe.stop()
        assert pipe.join(timeout=10), "the stop waited for the server"
        assert time.monotonic() - stopped < 5
    finally:
        pipe.stop()
    summary = pipe.stats()
    assert "error" not in summary and summary["dropped"] > 0
    indices = [r.frame.index for r in results]
    assert indices == sorted(indices)
