"""The test server itself: it starts on free loopback ports, serves the repository, stops, restarts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import tritonclient.grpc as grpcclient

from engines.triton.repository import SIDECAR_PARAMETER
from tests.triton.conftest import MODEL
from tools.triton_server import TritonServer, free_port


def _infer(url: str, frames: np.ndarray) -> np.ndarray:
    client = grpcclient.InferenceServerClient(url)
    try:
        tensor = grpcclient.InferInput("input", list(frames.shape), "UINT8")
        tensor.set_data_from_numpy(frames)
        result = client.infer(MODEL, [tensor], client_timeout=30)
        out = result.as_numpy("classmap")
        assert out is not None
        return out
    finally:
        client.close()


def test_the_server_serves_the_repository_as_onnx_runtime_would(triton_server: TritonServer, tiny_model) -> None:
    frames = np.random.default_rng(3).integers(0, 256, size=(3, 64, 128, 3), dtype=np.uint8)
    expected = ort.InferenceSession(str(tiny_model)).run(None, {"input": frames})[0]
    np.testing.assert_array_equal(_infer(triton_server.url, frames), expected)
    client = grpcclient.InferenceServerClient(triton_server.url)
    config = client.get_model_config(MODEL, as_json=True)["config"]
    client.close()
    sidecar = json.loads(config["parameters"][SIDECAR_PARAMETER]["string_value"])
    assert sidecar["input"]["height"] == 64 and sidecar["output"]["kind"] == "classmap"


def test_a_killed_server_restarts_on_the_same_port(own_server: TritonServer) -> None:
    port = own_server.grpc_port
    own_server.kill()
    assert own_server.process is not None and own_server.process.poll() is not None
    own_server.start()
    assert own_server.grpc_port == port
    frames = np.zeros((1, 64, 128, 3), dtype=np.uint8)
    assert _infer(own_server.url, frames).shape == (1, 64, 128)


def test_stop_ends_the_server(triton_env, triton_repo, tmp_path) -> None:
    server = TritonServer(triton_repo, env=triton_env, log_path=tmp_path / "log").start()
    server.stop()
    assert server.process is not None and server.process.returncode is not None


def test_the_serve_command_runs_until_sigterm(triton_env, triton_repo, tmp_path) -> None:
    root = Path(__file__).resolve().parents[2]
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(root), "SEGSTREAM_TRITON_ENV": str(triton_env)}
    serve = subprocess.Popen([sys.executable, "-m", "tools.triton_server", "serve", str(triton_repo),
                              "--grpc-port", str(port), "--http-port", str(free_port())],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        assert serve.stdout is not None
        assert f"ready: grpc 127.0.0.1:{port}" in serve.stdout.readline()
        assert _infer(f"127.0.0.1:{port}", np.zeros((1, 64, 128, 3), dtype=np.uint8)).shape == (1, 64, 128)
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(30) == 0
    finally:
        if serve.poll() is None:
            serve.kill()
    assert not list(Path("/dev/shm").glob(f"segstream_triton_{serve.pid}_*"))
    bad = subprocess.run([sys.executable, "-m", "tools.triton_server", "serve", str(tmp_path / "none")],
                         capture_output=True, text=True, env=env, timeout=60)
    assert bad.returncode == 2 and bad.stderr.startswith("error: ") and bad.stderr.count("\n") == 1
