"""The installed ``segstream`` command: the run by default, the tools by subcommand.

``segstream [SOURCE ...] [options]`` runs the pipeline (``run_stream.py`` takes the same
arguments). A first argument that names a subcommand runs that tool instead; each subcommand is
also reachable as ``python -m <module>``. A first argument that is both a subcommand's name and a
path in the current folder is refused: which one was meant cannot be known.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Sequence

from segcore.errors import UserInputError
from segcore.exits import run_command

# Nothing heavy is imported here: a Ctrl-C or SIGTERM during the imports of a run or a tool must
# reach the code that turns it into one line (segstream/run.py), not a traceback in this import.

# name → (module whose main(argv) runs it, what it does); modules are imported only when used
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "train": ("training.train", "train a model from a YAML config (needs the 'train' extra: torch)"),
    "eval": ("training.evaluate", "score a model on a labelled dataset: mIoU, per-class IoU, plots"),
    "export": ("engines.models.export", "export a model or checkpoint to ONNX with a parity check and sidecar"),
    "build": ("engines.build.cli", "build (or reuse) a TensorRT engine from an ONNX model"),
    "models": ("engines.models.__main__", "list the registered models with parameters and GFLOPs"),
    "fetch": ("engines.fetch", "download torchvision's checkpoint by name, check its hash, export and cache it"),
    "inspect": ("segstream.inspect", "what is read from a model file and what is assumed; --write-sidecar"),
    "triton-repo": ("engines.triton.cli", "write a Triton model repository (config.pbtxt, sidecar) for a model"),
}
_TRAIN_EXTRA = "pip install 'segstream[train]' (CPU machines: torch==2.13.0 first)"
INSTALL = {"torch": _TRAIN_EXTRA, "onnx": _TRAIN_EXTRA, "onnxscript": _TRAIN_EXTRA, "matplotlib": _TRAIN_EXTRA,
           "tensorrt": "pip install 'segstream[gpu]' on a machine with an NVIDIA GPU"}  # package → how to get it


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(_dispatch, argv)


def _dispatch(args: list[str]) -> int:
    if args and args[0] in SUBCOMMANDS:
        name = args[0]
        if os.path.lexists(name):
            raise UserInputError(f"{name!r} is a segstream subcommand and also a path in this folder; for the path, pass ./{name}")
        return _subcommand(name)(args[1:])
    from segstream.run import main as run

    if args and args[0] in ("-h", "--help"):
        code = run_command(run, args)
        sys.stdout.write(_subcommand_help())
        return code
    return run(args)


def _subcommand(name: str) -> Callable[[list[str]], int]:
    try:
        module = importlib.import_module(SUBCOMMANDS[name][0])
    except ModuleNotFoundError as exc:  # an optional dependency of that tool (torch, tensorrt) is absent
        from engines.errors import EngineUnavailableError

        install = INSTALL.get(str(exc.name).partition(".")[0])
        if install is None:
            raise
        raise EngineUnavailableError(
            f"segstream {name} needs the Python package {exc.name!r}, which is not installed here; {install}"
        ) from None
    run: Callable[[list[str]], int] = module.main
    return run


def _subcommand_help() -> str:
    lines = ["", "subcommands (segstream NAME --help for each):"]
    lines += [f"  {name:<11} {what}" for name, (_, what) in SUBCOMMANDS.items()]
    return "\n".join(lines) + "\n"
