"""``segstream triton-repo``: a Triton model repository from a segstream model.

    segstream triton-repo model.onnx --out repo/                  # onnxruntime_onnx, CPU instances
    segstream triton-repo model.fp16.engine --out repo/ --instances 2   # tensorrt_plan, GPU instances
    segstream triton-repo model.onnx --out repo/ --kind python    # ONNX Runtime inside the Python backend
    tritonserver --model-repository repo/                          # then: --model triton://HOST:8001/NAME

Writes ``repo/NAME/config.pbtxt``, ``repo/NAME/NAME.yaml`` (the sidecar) and ``repo/NAME/VERSION/``
with the model (see ``engines.triton.repository``). Exit 2 with one line for a model that cannot
be served (no sidecar, float input, logits output), a bad option, or an ``--out`` that cannot be
written or already holds the model (``--replace``); nothing is left behind.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from engines.registry import check_model_file
from engines.triton.repository import (
    KINDS,
    MAX_BATCH,
    MAX_INSTANCES,
    MAX_QUEUE_DELAY_US,
    RepoOptions,
    write_repository,
)
from segcore.exits import CommandParser, int_range, run_command

DEFAULTS = RepoOptions()


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(_main, argv)


def _main(args: list[str]) -> int:
    p = CommandParser(prog="segstream triton-repo", description="Write a Triton model repository for a segstream model.")
    p.add_argument("model", type=Path, help="MODEL.onnx or a TensorRT MODEL.engine/.plan, with its sidecar beside it")
    p.add_argument("--out", type=Path, required=True, help="the repository folder (created if needed)")
    p.add_argument("--kind", choices=KINDS, default="auto",
                   help="auto: onnxruntime for .onnx, tensorrt for .engine/.plan; python: ONNX Runtime in the "
                   "Python backend (for servers without the ONNX Runtime backend)")
    p.add_argument("--name", help="the model's name on the server (default: the sidecar's name)")
    p.add_argument("--version", type=int_range(1, 1_000_000), default=DEFAULTS.version, help="default %(default)s")
    p.add_argument("--max-batch", type=int_range(1, MAX_BATCH), default=DEFAULTS.max_batch,
                   help="largest batch the dynamic batcher forms (default %(default)s; a static-batch model: 1)")
    p.add_argument("--max-queue-delay-us", type=int_range(0, MAX_QUEUE_DELAY_US), default=DEFAULTS.max_queue_delay_us,
                   help="how long a request waits for others to join its batch, in µs (default %(default)s)")
    p.add_argument("--instances", type=int_range(1, MAX_INSTANCES), default=DEFAULTS.instances,
                   help="model instances per device (default %(default)s)")
    p.add_argument("--instance-kind", choices=("auto", "cpu", "gpu"), default="auto",
                   help="auto: gpu for TensorRT, cpu otherwise")
    p.add_argument("--threads", type=int_range(1, 256), default=DEFAULTS.threads,
                   help="ONNX Runtime threads per instance (default %(default)s)")
    p.add_argument("--replace", action="store_true", help="replace the model's folder if the repository has it")
    options = p.parse_args(args)
    check_model_file(options.model, "model")
    folder = write_repository(options.model, options.out, RepoOptions(
        kind=options.kind, name=options.name, version=options.version, max_batch=options.max_batch,
        max_queue_delay_us=options.max_queue_delay_us, instances=options.instances,
        instance_kind=options.instance_kind, threads=options.threads, replace=options.replace,
    ))
    print(f"wrote {folder} (config.pbtxt, {folder.name}.yaml, version {options.version}); "
          f"serve it with tritonserver --model-repository {folder.parent}, "
          f"run it with --model triton://HOST:8001/{folder.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
