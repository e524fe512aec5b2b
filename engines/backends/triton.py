"""Triton backend: the model runs in a Triton Inference Server, reached over gRPC.

``--model triton://HOST:PORT/MODEL[/VERSION]``. The engine sends the uint8 NHWC frames the sidecar
describes and receives the uint8 class map (never float logits over the network). Several requests
are in flight when the pipeline runs several inference workers (``runtime.infer_workers``; auto
gives the triton backend ``IN_FLIGHT``), each with its own connection; the server's dynamic batcher
merges them with other clients' requests.

When the server does not answer (down, restarting, overloaded) a request is retried with backoff
(``RETRY_FIRST_S`` doubling up to ``RETRY_MAX_S``) for ``retry_for_s`` seconds, then the engine
fails with one line naming the server. While it waits the pipeline's inference stage waits too: a
file source waits behind it and resumes (no frame is lost), a live source's newest-frame queue
drops the frames that arrive meanwhile and counts them (``dropped`` in the summary).
``health`` (an ``engines.triton.health.ServerHealth``, shared by a run's workers) counts what
happened: outages, retries, the time waited; the run's summary reports it as ``model.server``.

``shared_memory: true`` (a server on this host only) passes frames and class maps through system
shared memory instead of the gRPC message (``engines.triton.shm``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from engines.engine import warmup_batch
from engines.errors import EngineError, EngineInterrupted, EngineUnavailableError, ModelError
from engines.metadata import ModelMeta
from engines.triton.address import describe, max_batch, meta_from_config, parse_uri, server_config
from engines.triton.health import ServerHealth
from engines.triton.shm import SharedRegions

RETRY_FIRST_S = 0.05
RETRY_MAX_S = 1.0
# gRPC statuses after which the same request may succeed later: the server is down, restarting or busy
TRANSIENT = {"StatusCode.UNAVAILABLE", "StatusCode.DEADLINE_EXCEEDED", "StatusCode.RESOURCE_EXHAUSTED",
             "StatusCode.CANCELLED", "StatusCode.ABORTED"}
_CHANNEL = [  # reconnect quickly after a restart (gRPC's own backoff grows to two minutes)
    ("grpc.max_send_message_length", 2**31 - 1), ("grpc.max_receive_message_length", 2**31 - 1),
    ("grpc.initial_reconnect_backoff_ms", 100), ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
]


class TritonEngine:
    backend = "triton"

    def __init__(
        self,
        path: str | Path,
        meta: ModelMeta | None = None,
        *,
        device: str = "auto",
        threads: int | None = None,
        timeout_s: float = 10.0,
        retry_for_s: float = 60.0,
        sidecar: str | None = None,
        health: ServerHealth | None = None,
        shared_memory: bool = False,
    ) -> None:
        try:
            import tritonclient.grpc as grpcclient
        except ImportError as exc:
            raise EngineUnavailableError(
                f"the triton backend needs tritonclient ({exc}); install it with: pip install 'segstream[triton]'"
            ) from None
        self._grpc = grpcclient
        self.address = parse_uri(str(path))
        self.device = f"remote {self.address.url}"
        self.timeout_s = float(timeout_s)
        self.retry_for_s = float(retry_for_s)
        self.health = health if health is not None else ServerHealth()
        self._client = self._connect()
        config = server_config(self._client, self.address, self.timeout_s)
        served = meta_from_config(config, self.address, sidecar)
        self.meta = meta if meta is not None else served
        if meta is not None and sidecar is None and meta.to_dict() != served.to_dict():
            raise EngineError(f"{self.address} now serves another model than the one this run was checked against "
                              f"({served.name!r}); restart the run")
        self.max_batch = max_batch(config)
        self._input = self.meta.input.name
        self._output = self.meta.output.name
        self._shared: SharedRegions | None = None
        self._register = False  # register the shared regions again before the next request (a restart)
        if shared_memory:
            if self.meta.input.dynamic_size:
                raise ModelError("model.options.shared_memory needs a fixed input size; this model's is dynamic")
            try:
                self._shared = SharedRegions(self._client, self.address.host, self.max_batch,
                                             self.meta.input.height, self.meta.input.width)
            except self._grpc.InferenceServerException as exc:
                raise EngineUnavailableError(
                    f"the Triton server at {self.address.url} cannot use this process's shared memory "
                    f"({describe(exc)}); it must run on this host with the same /dev/shm, or leave "
                    "model.options.shared_memory off"
                ) from None

    def _connect(self) -> Any:
        return self._grpc.InferenceServerClient(self.address.url, channel_args=_CHANNEL)

    def infer(self, batch: np.ndarray) -> np.ndarray:
        if self._client is None:
            raise EngineError("the triton engine was closed")
        batch = np.ascontiguousarray(batch, dtype=np.uint8)
        tensor = self._grpc.InferInput(self._input, list(batch.shape), "UINT8")
        wanted = [self._grpc.InferRequestedOutput(self._output)]
        if self._shared is None:
            tensor.set_data_from_numpy(batch)
        else:
            if len(batch) > self.max_batch or batch.shape[1:3] != (self._shared.height, self._shared.width):
                raise EngineError(f"a batch of {tuple(batch.shape)} does not fit the shared memory regions "
                                  f"({self.max_batch}×{self._shared.height}×{self._shared.width})")
            tensor.set_shared_memory(self._shared.input_name, self._shared.put(batch))
            wanted[0].set_shared_memory(self._shared.output_name, len(batch) * batch.shape[1] * batch.shape[2])
        result = self._send(tensor, wanted, len(batch))
        out = result.as_numpy(self._output) if self._shared is None else self._shared.take(len(batch))
        if out is None or out.dtype != np.uint8 or out.ndim != 3 or out.shape[0] != len(batch) \
                or out.shape[1:] != batch.shape[1:3]:
            got = "nothing" if out is None else f"{out.dtype} {tuple(out.shape)}"
            raise EngineError(f"{self.address} returned {got} for a batch of {tuple(batch.shape)}; expected uint8 "
                              f"{(len(batch), *batch.shape[1:3])} (a server Python with numpy 2 returns empty outputs)")
        return out

    def _send(self, tensor: Any, wanted: list[Any], size: int) -> Any:
        failing_since: float | None = None
        delay = RETRY_FIRST_S
        registered_again = False
        while True:
            try:
                if self._register and self._shared is not None:
                    self._shared.register()  # a restarted server has forgotten the regions
                    self._register = False
                result = self._client.infer(self.address.model, [tensor], model_version=self.address.version,
                                            outputs=wanted, client_timeout=self.timeout_s)
            except self._grpc.InferenceServerException as exc:
                lost = self._shared is not None and "shared memory" in str(exc).lower() and not registered_again
                if lost:  # the server restarted between two requests: it forgot the regions
                    self._register = registered_again = True
                    continue
                if exc.status() not in TRANSIENT and "unknown model" not in str(exc).lower():
                    if failing_since is not None:
                        self.health.end_wait(time.monotonic() - failing_since, failed=True)
                    raise EngineError(f"{self.address} refused a batch of {size}: {describe(exc)}") from None
                now = time.monotonic()
                if failing_since is None:
                    failing_since = now
                    self.health.begin_wait()
                if self.health.interrupted.is_set():
                    self.health.end_wait(now - failing_since)
                    raise EngineInterrupted(f"stopped waiting for the Triton server at {self.address.url}: "
                                            "the run is stopping") from None
                if now - failing_since >= self.retry_for_s:
                    self.health.end_wait(now - failing_since, failed=True)
                    raise EngineError(
                        f"the Triton server at {self.address.url} has not answered for {self.retry_for_s:g} s "
                        f"({describe(exc)}); check that it runs, or raise model.options.retry_for_s"
                    ) from None
                self._register = True
                self.health.interrupted.wait(min(delay, max(0.0, self.retry_for_s - (now - failing_since))))
                delay = min(delay * 2, RETRY_MAX_S)
                self.health.retry()
                continue
            if failing_since is not None:
                self.health.end_wait(time.monotonic() - failing_since)
            return result

    def interrupt(self) -> None:
        """End a wait for the server now (from another thread): ``infer`` raises ``EngineInterrupted``."""
        self.health.interrupt()

    def warmup(self, iterations: int = 3) -> None:
        batch = warmup_batch(self.meta, 1)
        for _ in range(iterations):
            self.infer(batch)

    def close(self) -> None:
        client, self._client = self._client, None
        shared, self._shared = self._shared, None
        if shared is not None:
            shared.close()
        if client is not None:
            client.close()
