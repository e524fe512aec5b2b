"""The triton engine against a real Triton server on 127.0.0.1: the same class maps as ONNX Runtime
in-process, the sidecar read from the server, and every way the server can fail said in one line
within its timeout, or waited out."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from engines.errors import EngineError, EngineUnavailableError, ModelError
from engines.metadata import load_for_model
from engines.registry import backend_for, model_meta, open_engine
from engines.triton.shm import SharedRegions
from segcore.errors import ConfigError
from tests.triton.conftest import MODEL
from tools.triton_server import TritonServer, free_port


def _frames(count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(count, 64, 128, 3), dtype=np.uint8)


def test_class_maps_equal_onnx_runtime_in_process(triton_server: TritonServer, tiny_model: Path) -> None:
    local = open_engine(tiny_model, backend="onnxruntime", device="cpu")
    remote = open_engine(f"triton://{triton_server.url}/{MODEL}")
    try:
        assert remote.backend == "triton" and remote.max_batch == 8
        for size, seed in ((1, 1), (3, 2), (8, 3)):
            frames = _frames(size, seed)
            np.testing.assert_array_equal(remote.infer(frames), local.infer(frames))
        remote.warmup(2)
    finally:
        local.close()
        remote.close()


def test_the_sidecar_comes_from_the_server(triton_server: TritonServer, tiny_model: Path) -> None:
    uri = f"triton://{triton_server.url}/{MODEL}/1"
    assert model_meta(uri) == load_for_model(tiny_model)
    assert backend_for(uri) == "triton"
    with pytest.raises(ConfigError, match="model.backend must be auto or triton"):
        backend_for(uri, "onnxruntime")


def test_a_local_sidecar_is_checked_against_the_server(triton_server: TritonServer, tiny_model: Path,
                                                        tiny_logits_model: Path) -> None:
    uri = f"triton://{triton_server.url}/{MODEL}"
    assert model_meta(uri, {"sidecar": str(tiny_model.with_suffix(".yaml"))}).name == load_for_model(tiny_model).name
    with pytest.raises(ModelError, match="uint8 NHWC"):
        model_meta(uri, {"sidecar": str(tiny_logits_model.with_suffix(".yaml"))})


@pytest.mark.parametrize("uri", ["triton://127.0.0.1/m", "triton://127.0.0.1:70000/m", "triton://h:1/a/b/c",
                                 "triton://h:1/"])
def test_malformed_addresses_are_refused(uri: str) -> None:
    with pytest.raises(ModelError, match="triton://"):
        model_meta(uri)


def test_an_unknown_model_names_the_served_ones(triton_server: TritonServer) -> None:
    with pytest.raises(EngineUnavailableError, match=f"no ready model 'nope'.*models: {MODEL}"):
        open_engine(f"triton://{triton_server.url}/nope")


def test_no_server_is_an_error_within_the_timeout() -> None:
    started = time.monotonic()
    with pytest.raises(EngineUnavailableError, match=r"no answer from the Triton server.* within 1\.5 s.*Connection refused"):
        open_engine(f"triton://127.0.0.1:{free_port()}/{MODEL}", timeout_s=1.5)
    assert 1.0 < time.monotonic() - started < 4  # tried again meanwhile: a server starting up gets timeout_s


def test_a_server_that_starts_late_is_waited_for_timeout_s(triton_env: Path, triton_repo: Path, tmp_path: Path) -> None:
    server = TritonServer(triton_repo, env=triton_env, log_path=tmp_path / "log")
    starting = threading.Thread(target=server.start)
    starting.start()  # the engine opens while the server is still loading
    try:
        engine = open_engine(f"triton://{server.url}/{MODEL}", timeout_s=60)
        assert engine.infer(_frames(1)).shape == (1, 64, 128)
        engine.close()
    finally:
        starting.join()
        server.stop()


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP server on 127.0.0.1 that accepts connections and never says a word."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.1)
    stop, accepted = threading.Event(), []

    def accept() -> None:
        while not stop.is_set():
            with contextlib.suppress(OSError):
                accepted.append(listener.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        listener.close()


def test_a_server_that_never_answers_is_an_error_within_the_timeout(silent_server: int) -> None:
    started = time.monotonic()
    with pytest.raises(EngineUnavailableError, match=r"no answer from the Triton server at 127\.0\.0\.1:\d+ within 1\.5 s"):
        open_engine(f"triton://127.0.0.1:{silent_server}/{MODEL}", timeout_s=1.5)
    assert time.monotonic() - started < 4


def test_a_restarted_server_is_waited_for_and_the_answer_is_right(own_server: TritonServer, tiny_model: Path) -> None:
    remote = open_engine(f"triton://{own_server.url}/{MODEL}", retry_for_s=60)
    local = open_engine(tiny_model, backend="onnxruntime", device="cpu")
    frames = _frames(2, 9)
    try:
        np.testing.assert_array_equal(remote.infer(frames), local.infer(frames))
        own_server.kill()
        restart = threading.Timer(1.0, own_server.start)
        restart.start()
        started = time.monotonic()
        np.testing.assert_array_equal(remote.infer(frames), local.infer(frames))  # blocks until the server is back
        restart.join()
        assert time.monotonic() - started >= 0.9
        health = remote.health.snapshot()  # type: ignore[attr-defined]
        assert health["outages"] == 1 and health["retries"] >= 1 and health["waited_s"] >= 0.9
        assert health["state"] == "answering" and health["failed_requests"] == 0
    finally:
        remote.close()
        local.close()


def test_a_server_gone_for_good_is_an_error_after_retry_for_s(own_server: TritonServer) -> None:
    remote = open_engine(f"triton://{own_server.url}/{MODEL}", retry_for_s=1.0, timeout_s=2)
    try:
        own_server.kill()
        started = time.monotonic()
        with pytest.raises(EngineError, match=rf"127\.0\.0\.1:{own_server.grpc_port} has not answered for 1 s"):
            remote.infer(_frames(1))
        assert 0.9 < time.monotonic() - started < 4
        assert remote.health.snapshot()["failed_requests"] == 1  # type: ignore[attr-defined]
    finally:
        remote.close()


def test_shared_memory_gives_the_same_class_maps_and_survives_a_restart(own_server: TritonServer,
                                                                       tiny_model: Path) -> None:
    remote = open_engine(f"triton://{own_server.url}/{MODEL}", shared_memory=True, retry_for_s=60)
    local = open_engine(tiny_model, backend="onnxruntime", device="cpu")
    try:
        for size, seed in ((1, 4), (8, 5), (2, 6)):
            frames = _frames(size, seed)
            np.testing.assert_array_equal(remote.infer(frames), local.infer(frames))
        own_server.kill()
        restart = threading.Timer(0.5, own_server.start)
        restart.start()
        frames = _frames(3, 7)
        np.testing.assert_array_equal(remote.infer(frames), local.infer(frames))  # the regions registered again
        restart.join()
    finally:
        remote.close()
        local.close()


def test_shared_memory_needs_the_server_on_this_host() -> None:
    with pytest.raises(ModelError, match="on this host"):
        SharedRegions(None, "10.0.0.5", 1, 64, 128)
