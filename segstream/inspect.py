"""``segstream inspect MODEL``: what segstream reads from a model, and what it will assume.

Prints the graph's inputs and outputs, the output it will read and how (logits, probabilities,
binary, class ids; the class axis), the input convention (size, colour order, mean/std and their
units, normalisation) and the classes, then the one ``note:`` line a run would print about what
was assumed. ``--write-sidecar [PATH]`` writes a complete, commented sidecar (default: beside the
model, ``MODEL.yaml``) that reproduces exactly this description, for the user to edit; an
existing file is kept unless ``--force``. The same settings as a run apply: ``--labels``,
``--colors``, ``--set model.output=NAME``, ``--set model.input.scale=255``, ...
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from segcore.errors import OutputError
from segcore.exits import CommandParser, run_command

if TYPE_CHECKING:
    from engines.metadata import ModelMeta

EXAMPLES = """\
examples:
  segstream inspect model.onnx                          what is read and what is assumed
  segstream inspect model.onnx --write-sidecar          write model.yaml beside it, to edit
  segstream inspect seg.onnx --labels labels.txt --set model.input.scale=255 --set model.input.mean=[123.675,116.28,103.53]
"""


def main(argv: list[str] | None = None) -> int:
    return run_command(_main, argv)


def _main(argv: list[str]) -> int:
    import argparse

    parser = CommandParser(prog="segstream inspect", description=__doc__.split("\n\n")[0],
                           epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", metavar="MODEL", help="model file (.onnx; .pt and .engine need their sidecar)")
    parser.add_argument("--labels", metavar="FILE", help="class names, one per line (model.labels)")
    parser.add_argument("--colors", metavar="FILE", help="class colours, one 'R G B' per line (model.colors)")
    parser.add_argument("--set", metavar="KEY=VALUE", action="append", default=[],
                        help="a model setting, e.g. --set model.output=out --set model.input.scale=255")
    parser.add_argument("--write-sidecar", metavar="PATH", nargs="?", const="",
                        help="write a complete, commented sidecar (default: MODEL.yaml beside the model)")
    parser.add_argument("--force", action="store_true", help="with --write-sidecar: replace an existing file")
    args = parser.parse_args(argv)

    from engines.describe import describe_model
    from pipeline.config import load_config
    from pipeline.construction import model_settings, resolve_model_path

    values = {key: value for key, value in (("model.labels", args.labels), ("model.colors", args.colors)) if value}
    config = load_config(None, args.set, values=values,
                         value_origins={k: f"--{k.split('.')[1]} {v}" for k, v in values.items()})
    path = resolve_model_path(args.model)
    meta = describe_model(path, model_settings(config))
    target = None
    if args.write_sidecar is not None:
        target = Path(args.write_sidecar) if args.write_sidecar else path.with_suffix(".yaml")
        if target.exists() and not args.force:
            raise OutputError(f"--write-sidecar: {target} exists; pass --force to replace it or give another PATH")
    sys.stdout.write(_report(path, meta))
    if target is not None:
        _write(target, path, meta)
        sys.stdout.write(f"wrote {target}\n")
    return 0


def _report(path: Path, meta: ModelMeta) -> str:
    from engines.graph import read_graph
    from engines.metadata import sidecar_path

    inp, out = meta.input, meta.output
    found = sidecar_path(path)
    lines = [f"model     {path} ({f'sidecar {found}' if found else 'no sidecar'})"]
    channels = None
    if path.suffix.lower() == ".onnx":
        graph = read_graph(path)
        used = graph.output(out.name)
        if used is not None and len(used.shape) == 4:
            channels = used.shape[1] if out.layout == "NCHW" else used.shape[3]
        lines += [f"graph in  {t.describe()}" for t in graph.inputs]
        lines += [f"graph out {t.describe()}{'' if not graph.origin(t.name).ending else ' (ends in ' + graph.origin(t.name).ending + ')'}"
                  for t in graph.outputs]
    batch = "any batch" if inp.dynamic_batch else "batch 1"
    size = f"{inp.height}x{inp.width} ({'any size accepted' if inp.dynamic_size else 'fixed'}, {batch})"
    if inp.dtype == "uint8":
        feed = f"{inp.color} uint8 pixels, normalised in the graph"
    elif inp.normalized_in_graph:
        feed = f"{inp.color} {inp.dtype} pixels in 0..{inp.scale}, normalised in the graph"
    else:
        units = "0..255" if inp.scale == 255 else "0..1"
        feed = f"{inp.color} {inp.dtype}, (pixel - mean) / std with mean {list(inp.mean)} std {list(inp.std)} in {units} units"
    lines.append(f"input     {inp.name} {inp.layout} {size}; {feed}")
    if out.kind == "classmap":
        how = "class ids (argmax in the graph)"
    elif channels == 1:
        how = f"binary: foreground where {'> 0' if out.kind == 'logits' else '> 0.5'} ({out.kind})"
    else:
        how = f"{out.kind}, classes on the {'second' if out.layout == 'NCHW' else 'last'} axis ({out.layout}), argmax by segstream"
    lines.append(f"output    {out.name} {out.dtype}: {how}")
    names = ", ".join(meta.class_names) if meta.num_classes <= 12 else f"{', '.join(meta.class_names[:10])}, ..."
    lines.append(f"classes   {meta.num_classes}: {names}")
    if meta.notice:
        lines.append(f"note: {meta.notice}")
    return "\n".join(lines) + "\n"


def _write(target: Path, path: Path, meta: ModelMeta) -> None:
    from engines.sidecar_text import sidecar_text
    from segcore.files import write_atomic

    try:
        write_atomic(target, sidecar_text(meta, path.name).encode())
    except OSError as exc:
        raise OutputError(f"--write-sidecar: cannot write {target}: {exc.strerror or exc}") from None
