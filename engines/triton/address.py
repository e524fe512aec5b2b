"""``triton://HOST:PORT/MODEL[/VERSION]``: where a model is served, and its sidecar read from the server.

The server's config of a model written by ``segstream triton-repo`` carries the segstream sidecar
(JSON) as the parameter ``segstream.sidecar``; a model from elsewhere is run with a local sidecar
(``model.options.sidecar``). Either way the server's own input and output specs are checked against
the sidecar: uint8 frames in, a uint8 class map out, the same names and sizes.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engines.errors import EngineUnavailableError, ModelError
from engines.metadata import ModelMeta

SCHEME = "triton://"
SIDECAR_PARAMETER = "segstream.sidecar"
_URI = re.compile(r"^triton://(?P<host>\[[0-9a-fA-F:]+\]|[A-Za-z0-9.\-_]+):(?P<port>\d{1,5})/"
                  r"(?P<model>[A-Za-z0-9_.\-]+)(?:/(?P<version>\d{1,7}))?/?$")
IN_FLIGHT = 4  # requests in flight (inference workers) when runtime.infer_workers is auto
FORM = "triton://HOST:PORT/MODEL[/VERSION] (PORT: the server's gRPC port, 8001 by default)"


def is_model_uri(path: object) -> bool:
    """Whether ``path`` names a served model rather than a file (only a ``str`` can: a ``Path``
    would have folded its ``//``)."""
    return isinstance(path, str) and path.lower().startswith(SCHEME)


@dataclass(frozen=True)
class TritonAddress:
    host: str
    port: int
    model: str
    version: str = ""  # "" = the server's choice (its version policy)

    @property
    def url(self) -> str:
        return f"{self.host}:{self.port}"

    def __str__(self) -> str:
        return f"{SCHEME}{self.url}/{self.model}" + (f"/{self.version}" if self.version else "")


def parse_uri(text: str) -> TritonAddress:
    match = _URI.match(text.strip())
    if match is None:
        raise ModelError(f"model address {text!r} is not of the form {FORM}")
    port = int(match["port"])
    if not 1 <= port <= 65535:
        raise ModelError(f"model address {text!r}: port {port} is not in 1..65535")
    return TritonAddress(match["host"], port, match["model"], match["version"] or "")


def describe(exc: BaseException) -> str:
    """One line for a tritonclient error: its gRPC status and the first line of its message."""
    status = getattr(exc, "status", None)
    code = status() if callable(status) else None
    message = getattr(exc, "message", None)
    text = (message() if callable(message) else None) or str(exc) or type(exc).__name__
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return f"{code}: {first}" if code else first


def server_config(client: Any, address: TritonAddress, timeout_s: float) -> dict[str, Any]:
    """The model's config as the server has it; EngineUnavailableError when it cannot be had."""
    deadline = time.monotonic() + timeout_s
    delay = 0.1
    while True:  # a server starting up, or too busy to take a connection now, is given timeout_s
        try:
            ready = client.is_model_ready(address.model, address.version,
                                          client_timeout=max(0.1, deadline - time.monotonic()))
            break
        except Exception as exc:  # tritonclient raises InferenceServerException for every failure
            remaining = deadline - time.monotonic()
            if remaining > 0.05:
                time.sleep(min(delay, remaining))
                delay = min(delay * 2, 1.0)
                continue
            error = exc
        raise EngineUnavailableError(
            f"no answer from the Triton server at {address.url} within {timeout_s:g} s ({describe(error)}); "
            f"start it (tritonserver --model-repository REPO) or check the address {address}"
        ) from None
    if not ready:
        raise EngineUnavailableError(
            f"the Triton server at {address.url} has no ready model {address.model!r}"
            + (f" version {address.version}" if address.version else "")
            + f"; check the name (its repository folder) or the server's log; models: {_names(client, timeout_s)}"
        )
    try:
        config: dict[str, Any] = client.get_model_config(address.model, address.version, as_json=True,
                                                         client_timeout=timeout_s)["config"]
    except Exception as exc:
        raise EngineUnavailableError(f"cannot read the config of {address}: {describe(exc)}") from None
    return config


def _names(client: Any, timeout_s: float) -> str:
    try:
        index = client.get_model_repository_index(as_json=True, client_timeout=timeout_s).get("models", [])
    except Exception:
        return "(the server did not list them)"
    names = sorted({m.get("name", "?") for m in index})
    return ", ".join(names) or "(none)"


def meta_from_config(config: dict[str, Any], address: TritonAddress, sidecar: str | Path | None = None) -> ModelMeta:
    """The sidecar of the served model: ``sidecar`` if given, else the server config's parameter."""
    if sidecar is not None:
        meta = ModelMeta.load(sidecar)
    else:
        text = config.get("parameters", {}).get(SIDECAR_PARAMETER, {}).get("string_value")
        if not text:
            raise ModelError(
                f"{address} carries no segstream sidecar (config parameter {SIDECAR_PARAMETER!r}); serve a repository "
                "made by 'segstream triton-repo', or give a local one with --set model.options.sidecar=MODEL.yaml"
            )
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ModelError(f"{address}: the sidecar in its config is not JSON ({exc})") from None
        meta = ModelMeta.from_dict(data, where=f"the sidecar of {address}")
    check_served(config, meta, address)
    return meta


def check_served(config: dict[str, Any], meta: ModelMeta, address: TritonAddress) -> None:
    """ModelError unless the server's input and output are what ``meta`` says, as uint8 tensors."""
    inputs, outputs = config.get("input", []), config.get("output", [])
    if len(inputs) != 1 or not outputs:
        raise ModelError(f"{address}: the served model has {len(inputs)} inputs and {len(outputs)} outputs; "
                         "segstream runs models with one input and one output")
    inp, out = inputs[0], outputs[0]
    if meta.input.dtype != "uint8" or meta.input.layout != "NHWC" or meta.output.kind != "classmap":
        raise ModelError(f"{address}: the sidecar describes {meta.input.dtype} {meta.input.layout} input and "
                         f"{meta.output.kind} output; the triton backend sends uint8 NHWC frames and receives a uint8 "
                         "class map: re-export with --uint8-input --argmax")
    for what, spec, name in (("input", inp, meta.input.name), ("output", out, meta.output.name)):
        if spec.get("name") != name or spec.get("data_type") != "TYPE_UINT8":
            raise ModelError(f"{address}: the server's {what} is {spec.get('name')!r} {spec.get('data_type')}, the "
                             f"sidecar's {name!r} TYPE_UINT8; give the sidecar of this model")
    dims = [int(d) for d in inp.get("dims", [])][-3:]
    expected = [-1, -1, 3] if meta.input.dynamic_size else [meta.input.height, meta.input.width, 3]
    if dims != expected and not (meta.input.dynamic_size and dims[-1:] == [3]):
        raise ModelError(f"{address}: the server's input is {dims}, the sidecar says {expected}; "
                         "give the sidecar of this model")


def max_batch(config: dict[str, Any]) -> int:
    return max(1, int(config.get("max_batch_size", 0)))


def fetch_meta(uri: str, *, timeout_s: float = 10.0, sidecar: str | Path | None = None) -> ModelMeta:
    """The sidecar of the model served at ``uri`` (``sidecar``: a local one, checked against the server)."""
    try:
        import tritonclient.grpc as grpcclient
    except ImportError as exc:
        raise EngineUnavailableError(
            f"the triton backend needs tritonclient ({exc}); install it with: pip install 'segstream[triton]'"
        ) from None
    address = parse_uri(uri)
    client = grpcclient.InferenceServerClient(address.url)
    try:
        return meta_from_config(server_config(client, address, timeout_s), address, sidecar)
    finally:
        client.close()
