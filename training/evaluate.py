"""Evaluate a model on a labelled dataset: mIoU, per-class IoU, pixel accuracy, confusion matrix.

    python -m training.evaluate --model MODEL.onnx --data 'synthetic://street?seeds=900-903&frames=24' \\
        --json out/eval.json [--num N] [--plots out/plots] [--batch 4] [--threads 2] [--device cpu]

Every image takes the pipeline's own path (``training.evaluation`` says which), and every model
file runs through ``engines.registry.open_engine``, the training ``.pt`` checkpoints too. The
trainer's validation scores with the same code, so a validation mIoU and an evaluator mIoU are the
same number.

``--num N`` evaluates N samples spread evenly over the dataset (every stream of a multi-seed
synthetic set is visited). The headline mIoU pools every frame into one confusion matrix; a
synthetic spec with several videos (``seed=3,4`` or ``camera=dashcam,fixed``) also gets each video's
own mIoU (``per_stream`` in the JSON), which is lower and noisier than the pooled one: a short clip
holds few instances of each class, and a class predicted on a few pixels of a clip that never shows
it scores IoU 0 there. Bad arguments, specs or paths exit 2 with one line.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path

from engines.transforms import RESIZE_MODES
from engines.zoo import cached_model, default_cache_dir, is_named_model
from segcore.exits import CommandParser, int_range, run_command
from segcore.files import check_folder, check_output_file, write_json
from segcore.sizes import hw_argument
from training.evaluation.report import evaluate

__all__ = ["evaluate", "main"]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = CommandParser(prog="python -m training.evaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="model file: .onnx (+ sidecar), .engine, a training .pt, or torchvision:NAME fetched by `segstream fetch`")
    parser.add_argument("--data", required=True, help="synthetic://..., cityscapes:ROOT[:split], voc:ROOT[:split], folder:ROOT")
    parser.add_argument("--json", required=True, help="where to write the metrics JSON")
    parser.add_argument("--num", type=int_range(1), default=None, help="evaluate N samples spread over the dataset (default: all)")
    parser.add_argument("--plots", default=None, help="folder for per-class IoU, confusion matrix and example plots")
    parser.add_argument("--batch", type=int_range(1), default=4, help="images per model call (default 4)")
    parser.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N")
    parser.add_argument("--threads", type=int_range(1), default=None, help="CPU threads for the model")
    parser.add_argument("--size", type=hw_argument, default=None, help="HEIGHTxWIDTH input for dynamic-size models")
    parser.add_argument("--resize", choices=RESIZE_MODES, default="stretch", help="as the pipeline's preprocess.resize")
    parser.add_argument("--examples", type=int_range(0), default=4, help="example rows in the plot grid (default 4)")
    return parser.parse_args(argv)


def check_outputs(args: argparse.Namespace) -> None:
    """The report and the plots can be written, and neither lands on the model: checked before the
    evaluation runs, so a mistake there does not cost the whole run."""
    model = Path(args.model)
    check_output_file(args.json, "--json report", inputs=[model, model.with_suffix(".yaml")])
    if args.plots:
        check_folder(args.plots, "--plots folder")


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(_main, argv)


def _main(argv: list[str]) -> int:
    args = parse_args(argv)
    if is_named_model(args.model):  # torchvision:NAME, fetched by `segstream fetch`, from the cache the environment names
        args.model = str(cached_model(default_cache_dir(os.environ), args.model))
    check_outputs(args)
    report, outcome, loaded, dataset = evaluate(
        args.model, args.data, num=args.num, batch_size=args.batch, device=args.device, threads=args.threads,
        size=args.size, resize=args.resize, examples=args.examples if args.plots else 0,
    )
    if args.plots:
        from training.plots import write_plots

        report["plots"] = [str(p) for p in write_plots(
            args.plots, outcome.matrix, dataset.class_names, dataset.palette, outcome.examples)]
    write_json(report, args.json, what="report")
    for warning in report["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    miou = report["miou"]
    print(f"mIoU {miou:.4f}" if miou is not None else "mIoU n/a", f"pixel accuracy {report['pixel_accuracy'] or 0:.4f}",
          f"on {report['num_images']} images ({report['timing']['images_per_s']} img/s) -> {args.json}")
    if report["predicted_absent"]:
        stray = ", ".join(f"{name} ({pixels:,} px)" for name, pixels in report["predicted_absent"].items())
        print(f"predicted but not in the ground truth, IoU 0 each: {stray}")
    streams = {name: r["miou"] for name, r in report.get("per_stream", {}).items() if r["miou"] is not None}
    if streams:
        values = sorted(streams.values())
        lowest = min(streams, key=lambda name: streams[name])
        print(f"{len(streams)} videos, each alone: mIoU min {values[0]:.4f} ({lowest}), "
              f"median {statistics.median(values):.4f}, max {values[-1]:.4f} (per_stream in the JSON)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
