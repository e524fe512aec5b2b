"""A Triton model repository for one segstream model: ``OUT/NAME/config.pbtxt``, the sidecar beside
it (``OUT/NAME/NAME.yaml``), and version ``OUT/NAME/VERSION/`` holding the model.

Three kinds: ``onnxruntime`` (``model.onnx`` run by Triton's ONNX Runtime backend), ``tensorrt``
(``model.plan``, a TensorRT engine built for the server's GPU and TensorRT version) and ``python``
(``model.onnx`` run by ONNX Runtime inside Triton's Python backend: the kind that runs on a server
without those backends, as in the tests). Each config has dynamic batching with a bounded queue
delay, instance groups, the input and output as the sidecar describes them, and the sidecar itself
as the config parameter ``segstream.sidecar`` (JSON), so a client needs nothing but the server's
address to run the model the way segstream runs it locally.

Only models that send uint8 frames and return a uint8 class map are accepted: fp32 tensors over a
network cost 4 (input) and 19+ (logits) times the bytes.

The repository is written into a temporary folder beside its destination and renamed into place:
a failure leaves nothing behind, and an existing model folder is replaced only when asked.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from engines.errors import ModelError
from engines.metadata import ModelMeta, load_for_model
from engines.triton.address import SIDECAR_PARAMETER
from segcore.errors import OutputError

Kind = Literal["auto", "onnxruntime", "tensorrt", "python"]
KINDS = ("auto", "onnxruntime", "tensorrt", "python")
InstanceKind = Literal["auto", "cpu", "gpu"]
PLATFORMS = {"onnxruntime": 'platform: "onnxruntime_onnx"', "tensorrt": 'platform: "tensorrt_plan"',
             "python": 'backend: "python"'}
MODEL_FILES = {"onnxruntime": "model.onnx", "tensorrt": "model.plan", "python": "model.onnx"}
SUFFIX_KINDS = {".onnx": "onnxruntime", ".engine": "tensorrt", ".plan": "tensorrt"}
PYTHON_MODEL = Path(__file__).with_name("python_model.py.txt")
MAX_BATCH = 256
MAX_QUEUE_DELAY_US = 1_000_000
MAX_INSTANCES = 64


@dataclass(frozen=True)
class RepoOptions:
    kind: Kind = "auto"
    name: str | None = None  # the model's name on the server; default: the sidecar's name
    version: int = 1
    max_batch: int = 8  # the largest batch the dynamic batcher forms
    max_queue_delay_us: int = 2000  # how long a request may wait for others to join its batch
    instances: int = 1  # model instances (sessions) per device
    instance_kind: InstanceKind = "auto"  # auto: GPU for TensorRT, CPU otherwise
    threads: int = 1  # ONNX Runtime intra-op threads per instance (onnxruntime and python kinds)
    replace: bool = False  # replace OUT/NAME if it exists


def kind_for(model: Path, kind: Kind) -> str:
    if kind != "auto":
        if kind == "tensorrt" and model.suffix.lower() not in (".engine", ".plan"):
            raise ModelError(f"--kind tensorrt needs a TensorRT engine (.engine or .plan), not {model.name}")
        if kind in ("onnxruntime", "python") and model.suffix.lower() != ".onnx":
            raise ModelError(f"--kind {kind} needs an ONNX model (.onnx), not {model.name}")
        return kind
    try:
        return SUFFIX_KINDS[model.suffix.lower()]
    except KeyError:
        raise ModelError(
            f"{model}: a Triton repository is made from a .onnx model or a TensorRT .engine/.plan, "
            f"not a {model.suffix or 'file without suffix'}"
        ) from None


def check_servable(meta: ModelMeta, where: Path) -> None:
    """ModelError unless ``meta`` sends uint8 NHWC frames and returns a uint8 class map."""
    if meta.input.dtype != "uint8" or meta.input.layout != "NHWC":
        raise ModelError(
            f"{where}: the model takes {meta.input.dtype} {meta.input.layout} input; Triton serving needs uint8 NHWC "
            "frames: re-export it with 'segstream export ... --uint8-input --argmax'"
        )
    if meta.output.kind != "classmap" or meta.output.dtype != "uint8":
        raise ModelError(
            f"{where}: the model returns {meta.output.dtype} {meta.output.kind}; Triton serving needs a uint8 class "
            "map: re-export it with 'segstream export ... --uint8-input --argmax'"
        )


def check_name(name: str) -> str:
    if not name or name.startswith(".") or any(not (c.isalnum() or c in "-_.") for c in name):
        raise ModelError(f"model name {name!r} cannot name a Triton model folder; use letters, digits, '-', '_', '.'")
    return name


def config_text(meta: ModelMeta, kind: str, name: str, options: RepoOptions) -> str:
    """The ``config.pbtxt`` of ``meta`` served as ``kind`` under ``name``."""
    inp, out = meta.input, meta.output
    height, width = (-1, -1) if inp.dynamic_size else (inp.height, inp.width)
    max_batch = options.max_batch if inp.dynamic_batch else 0
    batch_dims = "" if max_batch else "1, "  # a static-batch graph: the batch is part of the dims
    instance = options.instance_kind
    if instance == "auto":
        instance = "gpu" if kind == "tensorrt" else "cpu"
    if kind == "tensorrt" and instance != "gpu":
        raise ModelError("a TensorRT plan runs on a GPU only: use --instance-kind gpu (or auto)")
    if kind == "python" and instance != "cpu":
        raise ModelError("the python kind runs ONNX Runtime on the CPU: use --instance-kind cpu (or auto)")
    sidecar = json.dumps(meta.to_dict(), separators=(",", ":"), ensure_ascii=True)
    lines = [
        f'name: "{name}"',
        PLATFORMS[kind],
        f"max_batch_size: {max_batch}",
        "input [",
        f'  {{ name: "{inp.name}", data_type: TYPE_UINT8, dims: [ {batch_dims}{height}, {width}, 3 ] }}',
        "]",
        "output [",
        f'  {{ name: "{out.name}", data_type: TYPE_UINT8, dims: [ {batch_dims}{height}, {width} ] }}',
        "]",
        f"instance_group [ {{ count: {options.instances}, kind: KIND_{instance.upper()} }} ]",
    ]
    if max_batch:
        lines += [
            "dynamic_batching {",
            f"  max_queue_delay_microseconds: {options.max_queue_delay_us}",
            "}",
        ]
    lines += [
        f"version_policy: {{ specific: {{ versions: [ {options.version} ] }} }}",
        f'parameters {{ key: "{SIDECAR_PARAMETER}" value: {{ string_value: "{_pbtxt_escape(sidecar)}" }} }}',
    ]
    if kind != "tensorrt":
        lines.append(f'parameters {{ key: "intra_op_thread_count" value: {{ string_value: "{options.threads}" }} }}')
        if kind == "python":
            lines.append(f'parameters {{ key: "intra_op_threads" value: {{ string_value: "{options.threads}" }} }}')
    return "\n".join(lines) + "\n"


def _pbtxt_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def check_options(options: RepoOptions) -> None:
    bounds = [("--version", options.version, 1, 1_000_000), ("--max-batch", options.max_batch, 1, MAX_BATCH),
              ("--max-queue-delay-us", options.max_queue_delay_us, 0, MAX_QUEUE_DELAY_US),
              ("--instances", options.instances, 1, MAX_INSTANCES), ("--threads", options.threads, 1, 256)]
    for flag, value, low, high in bounds:
        if not low <= value <= high:
            raise ModelError(f"{flag} is {value}; use {low}..{high}")


def write_repository(model: str | Path, out: str | Path, options: RepoOptions | None = None) -> Path:
    """Write the repository for ``model`` into the folder ``out``; return the model's folder in it.

    ``ModelError`` for a model that cannot be served, ``OutputError`` for an ``out`` that cannot be
    written or a model folder already there (unless ``options.replace``). All or nothing.
    """
    options = options or RepoOptions()
    check_options(options)
    model, out = Path(model), Path(out).expanduser()
    kind = kind_for(model, options.kind)
    meta = load_for_model(model)
    check_servable(meta, model)
    name = check_name(options.name or meta.name)
    config = config_text(meta, kind, name, options)
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out} is a file, not a folder; give a folder for the repository")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the repository folder {out}: {exc.strerror or exc}") from None
    final = out / name
    if final.exists() and not options.replace:
        raise OutputError(f"{final} already exists; pass --replace to replace it, or another --out or --name")
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=out))
    except OSError as exc:
        raise OutputError(f"cannot write into {out}: {exc.strerror or exc}; choose a writable folder") from None
    try:
        version = staging / str(options.version)
        version.mkdir()
        shutil.copyfile(model, version / MODEL_FILES[kind])
        if kind == "python":
            shutil.copyfile(PYTHON_MODEL, version / "model.py")
        (staging / "config.pbtxt").write_text(config)
        meta.save(staging / f"{name}.yaml")
        os.chmod(staging, 0o755)  # mkdtemp makes it private; a server running as another user must read it
        if final.exists():
            retired = out / f".{name}.old.{os.getpid()}"
            final.rename(retired)
            staging.rename(final)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            staging.rename(final)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise OutputError(f"cannot write the repository {final}: {exc.strerror or exc}") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final
