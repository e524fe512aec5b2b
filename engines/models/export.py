"""Export a segmentation network to ONNX, check it against PyTorch, and write its sidecar.

    python -m engines.models.export (--checkpoint PATH | --model NAME --num-classes K) --out DIR
        [--input-size HxW] [--uint8-input] [--argmax] [--fp16] [--dynamic-batch] [--dynamic-size]

Uses the current exporter (``torch.onnx.export(dynamo=True)``, opset 20 by default, weights
embedded with ``external_data=False`` so a model is one file). The exporter writes opset 18 and
converts it to the opset asked for; older opsets cannot be reached that way and are refused before
anything is built (``supported_opsets``), and the sidecar records the opset the file really has.
Every export is followed by a parity check in ONNX Runtime on random non-zero frames; an export that
fails it is deleted and the command exits 1. Arguments and the output folder are checked before the
model is built, so a mistake costs a second and leaves nothing behind.
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cache
from pathlib import Path
from typing import Any

import torch
from torch import nn

from engines.checkpoints import LoadedCheckpoint, default_names, default_palette, load_checkpoint
from engines.errors import ModelError
from engines.metadata import IMAGENET_MEAN, IMAGENET_STD, InputSpec, ModelMeta, OutputSpec
from engines.models import create_model, list_models
from engines.models.blocks import calibrate_norm_statistics
from engines.models.deploy import DeployModel
from engines.models.parity import ParityError, ParityReport, check_parity
from segcore.errors import OutputError, UserInputError
from segcore.exits import CommandParser, int_range, run_command
from segcore.files import check_folder, make_folder, sha256_file
from segcore.sizes import hw_argument

log = logging.getLogger(__name__)

DEFAULT_OPSET = 20
EXPORTER_OPSET = 18  # what torch.onnx.export(dynamo=True) writes before converting; below it conversion fails
DEFAULT_INPUT_SIZE = (512, 1024)
MIN_INPUT_SIDE = 32
MAX_ARGMAX_CLASSES = 256  # the class map is uint8
OUTPUT_FOLDER = "output folder (--out)"


@dataclass(frozen=True)
class ExportOptions:
    input_size: tuple[int, int] = (512, 1024)  # (height, width)
    uint8_input: bool = False
    layout: str = "NHWC"  # for uint8 input; float input is always NCHW
    argmax: bool = False
    fp16: bool = False
    dynamic_batch: bool = False
    dynamic_size: bool = False
    opset: int = DEFAULT_OPSET


@dataclass(frozen=True)
class ExportResult:
    onnx_path: Path
    sidecar_path: Path
    meta: ModelMeta
    parity: ParityReport


@cache
def supported_opsets() -> range:
    """The ONNX opsets an export can produce: the exporter's own up to the newest the installed
    ``onnx`` package knows."""
    import onnx

    return range(EXPORTER_OPSET, onnx.defs.onnx_opset_version() + 1)


def check_options(options: ExportOptions, num_classes: int) -> None:
    """``UserInputError`` for options no export can satisfy (checked before anything is built)."""
    height, width = options.input_size
    if height < MIN_INPUT_SIDE or width < MIN_INPUT_SIDE:
        raise UserInputError(f"input size {height}x{width} is too small; use at least {MIN_INPUT_SIDE}x{MIN_INPUT_SIDE}")
    opsets = supported_opsets()
    if options.opset not in opsets:
        raise UserInputError(
            f"ONNX opset {options.opset} is not supported: the exporter writes opset {EXPORTER_OPSET} and converts "
            f"it up to {opsets[-1]}; choose an opset from {opsets[0]} to {opsets[-1]} (default {DEFAULT_OPSET})"
        )
    if options.argmax and num_classes > MAX_ARGMAX_CLASSES:
        raise UserInputError(
            f"an argmax output is a uint8 class map, which holds at most {MAX_ARGMAX_CLASSES} classes, not "
            f"{num_classes}; export without --argmax"
        )


def check_name(name: str) -> str:
    """``name`` if it can be a file stem in the output folder, else ``UserInputError``."""
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise UserInputError(f"model name {name!r} cannot be a file name; give a plain name such as my_model (--name)")
    return name


def default_classes(num_classes: int) -> tuple[tuple[str, ...], tuple[tuple[int, int, int], ...]]:
    """Class names and palette for a class count: Cityscapes (19), VOC (21), else generic."""
    return default_names(num_classes), default_palette(num_classes)


def export_onnx(
    net: nn.Module,
    out_dir: str | Path,
    *,
    name: str,
    architecture: Mapping[str, Any],
    class_names: Sequence[str],
    palette: Sequence[Sequence[int]],
    options: ExportOptions = ExportOptions(),
    provenance: Mapping[str, Any] | None = None,
    metrics: Mapping[str, Any] | None = None,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> ExportResult:
    """Export ``net`` (N×3×H×W normalised RGB → N×K×H×W logits) with the I/O ``options`` asks for.

    The graph is written beside its final name and renamed only once it passed the parity check, so
    a failed or interrupted export leaves no file behind."""
    check_options(options, len(class_names))
    check_name(name)
    out_dir = make_folder(check_folder(out_dir, OUTPUT_FOLDER), OUTPUT_FOLDER)
    net = net.eval().float()
    reference = DeployModel(net, uint8_input=options.uint8_input, layout=options.layout, argmax=False, mean=mean, std=std).eval()
    deployed = DeployModel(net, uint8_input=options.uint8_input, layout=options.layout, argmax=options.argmax, mean=mean, std=std).eval()
    if options.fp16:
        import copy

        deployed = copy.deepcopy(deployed).half()
    layout = options.layout if options.uint8_input else "NCHW"
    onnx_path = out_dir / f"{name}.onnx"
    tmp_path = out_dir / f".{name}.onnx.partial"
    input_name, output_name = "input", ("classmap" if options.argmax else "logits")
    try:
        _run_exporter(deployed, _example_input(options, layout), tmp_path, input_name, output_name, options, layout)
        opset = _file_opset(tmp_path)
        if opset != options.opset:
            raise ModelError(f"the exporter wrote ONNX opset {opset}, not the {options.opset} asked for; "
                             f"export with --opset {opset} (or another the exporter reaches)")
        meta = ModelMeta(
            name=name,
            class_names=tuple(class_names),
            palette=tuple((int(c[0]), int(c[1]), int(c[2])) for c in palette),
            input=_input_spec(options, layout, input_name, mean, std),
            output=OutputSpec(name=output_name, kind="classmap" if options.argmax else "logits",  # type: ignore[arg-type]
                              dtype="uint8" if options.argmax else ("float16" if options.fp16 else "float32")),
            architecture=dict(architecture),
            precision="fp16" if options.fp16 else "fp32",
            opset=opset,
            provenance={
                **dict(provenance or {}),
                "exported_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "exporter": f"torch.onnx.export(dynamo=True), torch {torch.__version__}",
            },
            metrics=dict(metrics or {}),
        )
        height, width = options.input_size
        sizes = [(height, width)] + ([(height + 2, width + 2)] if options.dynamic_size else [])
        parity = check_parity(reference, tmp_path, meta, sizes=sizes, batch=2 if options.dynamic_batch else 1)
        if not parity.passed:
            raise ParityError(f"export of {name} failed its parity check: {parity.summary()}")
        meta = ModelMeta.from_dict({**meta.to_dict(), "provenance": {**meta.provenance, "parity": parity.to_dict()}})
        return ExportResult(*_publish(tmp_path, onnx_path, meta), meta, parity)
    finally:
        tmp_path.unlink(missing_ok=True)


def _input_spec(options: ExportOptions, layout: str, name: str, mean: Sequence[float], std: Sequence[float]) -> InputSpec:
    height, width = options.input_size
    return InputSpec(
        name=name,
        layout=layout,  # type: ignore[arg-type]
        dtype="uint8" if options.uint8_input else ("float16" if options.fp16 else "float32"),  # type: ignore[arg-type]
        color="BGR" if options.uint8_input else "RGB",
        height=height,
        width=width,
        dynamic_batch=options.dynamic_batch,
        dynamic_size=options.dynamic_size,
        normalized_in_graph=options.uint8_input,
        mean=tuple(float(v) for v in mean),  # type: ignore[arg-type]
        std=tuple(float(v) for v in std),  # type: ignore[arg-type]
    )


def _publish(tmp_path: Path, onnx_path: Path, meta: ModelMeta) -> tuple[Path, Path]:
    """Move the checked graph to its name and write its sidecar; a graph is not left without one."""
    try:
        tmp_path.replace(onnx_path)
    except OSError as exc:
        raise OutputError(f"cannot write {onnx_path}: {exc.strerror or exc}; choose another --out") from None
    try:
        return onnx_path, meta.save(onnx_path.with_suffix(".yaml"))
    except OSError as exc:
        onnx_path.unlink(missing_ok=True)  # a graph without its sidecar cannot be opened
        raise OutputError(f"cannot write the sidecar of {onnx_path}: {exc.strerror or exc}; choose another --out") from None


def _file_opset(path: Path) -> int | None:
    """The default-domain ONNX opset ``path`` declares (what a runtime will read), None if it declares none."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return next((int(entry.version) for entry in model.opset_import if entry.domain in ("", "ai.onnx")), None)


def _example_input(options: ExportOptions, layout: str) -> torch.Tensor:
    h, w = options.input_size
    gen = torch.Generator().manual_seed(0)
    batch = 2 if options.dynamic_batch else 1
    if options.uint8_input:
        shape = (batch, h, w, 3) if layout == "NHWC" else (batch, 3, h, w)
        return torch.randint(1, 256, shape, dtype=torch.uint8, generator=gen)
    x = torch.randn((batch, 3, h, w), generator=gen)
    return x.half() if options.fp16 else x


def _run_exporter(model: nn.Module, example: torch.Tensor, path: Path, input_name: str, output_name: str,
                  options: ExportOptions, layout: str) -> None:
    from torch.export import Dim

    dims: dict[int, Any] = {}
    if options.dynamic_batch:
        dims[0] = Dim("batch", min=1, max=64)
    if options.dynamic_size:
        h_axis, w_axis = (1, 2) if layout == "NHWC" else (2, 3)
        dims[h_axis] = Dim("height", min=32, max=4096)
        dims[w_axis] = Dim("width", min=32, max=4096)
    dynamic_shapes = ({**dims},) if dims else None
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        try:
            program = torch.onnx.export(
                model,
                (example,),
                dynamo=True,
                input_names=[input_name],
                output_names=[output_name],
                dynamic_shapes=dynamic_shapes,
                opset_version=options.opset,
                external_data=False,
                optimize=True,
                verbose=False,
            )
        except Exception as exc:  # the exporter raises many types; the first line is the useful part
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(f"ONNX export failed: {first}") from exc
    if program is None:
        raise ModelError("ONNX export returned no program")
    program.save(str(path), external_data=False)


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(prog="python -m engines.models.export", description="Export a model to ONNX with a parity check and a sidecar.")
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", type=Path, help="a segstream .pt checkpoint, or a torchvision state dict with --arch")
    src.add_argument("--model", choices=list_models(), metavar="NAME",
                     help=f"a registered model with random weights: {', '.join(list_models())}")
    parser.add_argument("--arch", choices=list_models(), metavar="NAME",
                        help="architecture of a plain state-dict checkpoint (e.g. torchvision's official .pth)")
    parser.add_argument("--num-classes", type=int_range(1), help="class count (required with --model)")
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--name", help="file stem (default: the model or checkpoint name)")
    parser.add_argument("--input-size", type=hw_argument, default=None, help="HxW the graph is built for (default 512x1024 or the checkpoint's)")
    parser.add_argument("--uint8-input", action="store_true", help="take uint8 BGR frames; normalise inside the graph")
    parser.add_argument("--layout", choices=("NHWC", "NCHW"), default="NHWC", help="layout of uint8 input (default NHWC)")
    parser.add_argument("--argmax", action="store_true", help="output an N×H×W uint8 class map")
    parser.add_argument("--fp16", action="store_true", help="half-precision graph (strongly typed, for TensorRT 11)")
    parser.add_argument("--dynamic-batch", action="store_true")
    parser.add_argument("--dynamic-size", action="store_true")
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET,
                        help=f"ONNX opset, {EXPORTER_OPSET} up to the newest the installed onnx knows (default {DEFAULT_OPSET})")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(_main, argv)


def _main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    for name in ("torch.onnx", "onnxscript"):  # the exporter's registry and version-converter chatter
        logging.getLogger(name).setLevel(logging.ERROR)
    result = _export_from_args(args)
    print(f"wrote {result.onnx_path} and {result.sidecar_path.name}")
    print(f"parity: {result.parity.summary()}")
    return 0


def _export_from_args(args: argparse.Namespace) -> ExportResult:
    """Check the arguments and the output folder, then build the network and export it."""
    if args.model and args.num_classes is None:
        raise UserInputError("--model needs --num-classes (e.g. --num-classes 19)")
    check_options(_options(args, args.input_size or DEFAULT_INPUT_SIZE), args.num_classes or 0)
    if args.name is not None:
        check_name(args.name)
    check_folder(args.out, OUTPUT_FOLDER)
    if args.model:
        input_size = args.input_size or DEFAULT_INPUT_SIZE
        torch.manual_seed(0)
        try:
            net = create_model(args.model, num_classes=args.num_classes)
        except (TypeError, ValueError) as exc:
            raise ModelError(f"cannot build --model {args.model} with {args.num_classes} classes: {exc}") from None
        calibrate_norm_statistics(net, *input_size)
        architecture = {"name": args.model, "kwargs": {"num_classes": args.num_classes}}
        names, palette = default_classes(args.num_classes)
        provenance: dict[str, Any] = {"weights": "random initialisation, BatchNorm statistics of random frames (export test)"}
        metrics: dict[str, Any] = {}
        name = args.name or args.model
    else:
        loaded: LoadedCheckpoint = load_checkpoint(args.checkpoint, arch=args.arch, num_classes=args.num_classes)
        net, architecture = loaded.model, loaded.architecture
        names, palette = loaded.class_names, loaded.palette
        provenance = {"checkpoint": args.checkpoint.name, "checkpoint_sha256": sha256_file(args.checkpoint), **loaded.provenance}
        metrics = loaded.metrics
        input_size = args.input_size or loaded.input_size or DEFAULT_INPUT_SIZE
        name = args.name or args.checkpoint.stem
    return export_onnx(net, args.out, name=name, architecture=architecture, class_names=names, palette=palette,
                       options=_options(args, input_size), provenance=provenance, metrics=metrics)


def _options(args: argparse.Namespace, input_size: tuple[int, int]) -> ExportOptions:
    return ExportOptions(
        input_size=input_size,
        uint8_input=args.uint8_input,
        layout=args.layout,
        argmax=args.argmax,
        fp16=args.fp16,
        dynamic_batch=args.dynamic_batch,
        dynamic_size=args.dynamic_size,
        opset=args.opset,
    )


if __name__ == "__main__":
    sys.exit(main())
