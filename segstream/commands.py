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

# name → (module whose main(argv) runs it, what it does); modules are imported only when used
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "train": ("training.train", "train a model from a YAML config (needs the 'train' extra: torch)"),
    "eval": ("training.evaluate", "score a model on a labelled dataset: mIoU, per-class IoU, plots"),
    "export": ("engines.models.export", "export a model or checkpoint to ONNX with a parity check and sidecar"),
    "build": ("engines.build.cli", "build (or reuse) a TensorRT engine from an ONNX model"),
    "models": ("engines.models.__main__", "list the registered models with parameters and GFLOPs"),
}
EXIT_USAGE = 2


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in SUBCOMMANDS:
        name = args[0]
        if os.path.lexists(name):
            sys.stderr.write(
                f"error: {name!r} is a segstream subcommand and also a path in this folder; "
                f"for the path, pass ./{name}\n"
            )
            return EXIT_USAGE
        return _subcommand(name)(args[1:])
    from segstream.run import main as run

    if args and args[0] in ("-h", "--help"):
        code = _exit_code(run, args)
        sys.stdout.write(_subcommand_help())
        return code

    return run(args)


def _subcommand(name: str) -> Callable[[list[str]], int]:
    module = importlib.import_module(SUBCOMMANDS[name][0])
    run: Callable[[list[str]], int] = module.main
    return lambda argv: _exit_code(run, argv)


def _exit_code(run: Callable[[list[str]], int], argv: list[str]) -> int:
    try:
        return int(run(argv) or 0)
    except SystemExit as exc:  # argparse's --help and usage errors end this way
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else EXIT_USAGE)


def _subcommand_help() -> str:
    lines = ["", "subcommands (segstream NAME --help for each):"]
    lines += [f"  {name:<8} {what}" for name, (_, what) in SUBCOMMANDS.items()]
    return "\n".join(lines) + "\n"

