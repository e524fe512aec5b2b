"""Evaluate a model on a labelled dataset: mIoU, per-class IoU, pixel accuracy, confusion matrix.

    python -m training.evaluate --model MODEL.onnx --data 'synthetic://street?seeds=900-903&frames=24' \\
        --json out/eval.json [--num N] [--plots out/plots] [--batch 4] [--threads 2] [--device cpu]

Every image takes the pipeline's own path: ``transforms.fit`` (stretch to the model's input size)
→ ``transforms.to_input`` → the model → ``transforms.to_class_maps`` → ``transforms.restore_class_map``
(nearest, to the label's full size) → confusion matrix against the full-resolution labels. ONNX (and
any other registry backend) files run through ``engines.registry.open_engine``; ``.pt`` training
checkpoints run their network in PyTorch with the identical preprocessing (the class map is taken
by argmax in torch: the same as ``to_class_maps`` on the logits). The trainer's validation calls
``evaluate_samples`` below, so a validation mIoU and an evaluator mIoU are the same number.

``--num N`` evaluates N samples spread evenly over the dataset (every stream of a multi-seed
synthetic set is visited). The headline mIoU pools every frame into one confusion matrix; a
synthetic spec with several videos (``seed=3,4`` or ``camera=dashcam,fixed``) also gets each video's
own mIoU (``per_stream`` in the JSON), which is lower and noisier than the pooled one: a short clip
holds few instances of each class, and a class predicted on a few pixels of a clip that never shows
it scores IoU 0 there. Bad arguments, specs or paths exit 2 with one line.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from engines.errors import EngineUnavailableError, ModelError
from engines.metadata import InputSpec
from engines.transforms import (
    Geometry,
    ResizeMode,
    fit,
    resize_mask,
    restore_class_map,
    to_class_maps,
    to_input,
)
from segcore.accuracy import ConfusionMatrix
from segcore.errors import UserInputError
from segcore.files import write_json
from segcore.sizes import hw_argument
from training.data.datasets import (
    Sample,
    SegmentationDataset,
    Subset,
    SyntheticDataset,
    open_dataset,
    spread_indices,
)

EXAMPLE_WIDTH = 512  # examples kept for the plot grid are shrunk to this width


class Predictor(Protocol):
    """A model as the evaluator sees it: a batch as ``input`` describes → N×h×w uint8 class maps."""

    input: InputSpec
    num_classes: int
    max_batch: int

    def predict(self, batch: np.ndarray) -> np.ndarray: ...


class EnginePredictor:
    """Any ``engines.engine.Engine`` (ONNX Runtime, TensorRT, ...), class maps via ``to_class_maps``."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.input = engine.meta.input
        self.num_classes = engine.meta.num_classes
        self.max_batch = max(1, int(engine.max_batch))

    def predict(self, batch: np.ndarray) -> np.ndarray:
        return to_class_maps(self.engine.infer(batch), self.engine.meta.output)


class TorchPredictor:
    """A torch module fed ``to_input`` batches (float32 RGB NCHW, ImageNet mean/std)."""

    def __init__(self, model: Any, spec: InputSpec, num_classes: int, *, device: str = "cpu", amp: bool = False) -> None:
        import torch

        self.torch = torch
        self.model = model
        self.input = spec
        self.num_classes = num_classes
        self.device = torch.device(device)
        self.amp = amp and self.device.type == "cuda"
        self.max_batch = 64

    def predict(self, batch: np.ndarray) -> np.ndarray:
        torch = self.torch
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.inference_mode(), torch.autocast(self.device.type, dtype=torch.float16, enabled=self.amp):
                logits = self.model(torch.from_numpy(batch).to(self.device, non_blocking=True))
                if not isinstance(logits, torch.Tensor):
                    raise ModelError(f"the model returned {type(logits).__name__}, not one N×K×H×W logits tensor")
                if logits.ndim != 4 or logits.shape[1] != self.num_classes:
                    raise ModelError(f"expected N×{self.num_classes}×H×W logits, got {tuple(logits.shape)}")
                classes = logits.argmax(dim=1).to(torch.uint8)
        finally:
            self.model.train(was_training)
        return classes.cpu().numpy()


@dataclass(frozen=True, eq=False)
class Prepared:
    """A sample after ``fit``: the model-size image, where it came from, and the full-size labels."""

    image: np.ndarray  # model-size BGR uint8
    geometry: Geometry
    labels: np.ndarray  # full-resolution, 255 = ignore
    name: str
    original: np.ndarray | None = None  # the source frame (kept only when examples are plotted)


def prepare(sample: Sample, spec: InputSpec, resize: ResizeMode = "stretch", keep_original: bool = False) -> Prepared:
    fitted, geometry = fit(sample.image, spec.height, spec.width, resize)
    return Prepared(fitted, geometry, sample.labels, sample.name, sample.image if keep_original else None)


@dataclass
class Example:
    image: np.ndarray  # BGR, shrunk
    labels: np.ndarray
    prediction: np.ndarray
    name: str


@dataclass
class Outcome:
    matrix: ConfusionMatrix
    num_images: int = 0
    # stream_of(sample name) -> the video it belongs to; when set, ``streams`` holds one matrix per video
    stream_of: Callable[[str], str] | None = None
    streams: dict[str, ConfusionMatrix] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=lambda: {"load": 0.0, "preprocess": 0.0, "infer": 0.0, "postprocess": 0.0})
    examples: list[Example] = field(default_factory=list)

    def timing(self) -> dict[str, Any]:
        total = sum(self.seconds.values())
        n = max(1, self.num_images)
        return {
            "total_s": round(total, 3),
            "images_per_s": round(self.num_images / total, 2) if total > 0 else None,
            "ms_per_image": {k: round(1000 * v / n, 2) for k, v in self.seconds.items()},
        }


def _shrink(image: np.ndarray, labels: np.ndarray, prediction: np.ndarray, name: str) -> Example:
    from engines.transforms import resize_image

    h, w = labels.shape
    if w > EXAMPLE_WIDTH:
        nh = max(1, round(h * EXAMPLE_WIDTH / w))
        image = resize_image(image, EXAMPLE_WIDTH, nh)
        labels = resize_mask(labels, EXAMPLE_WIDTH, nh)
        prediction = resize_mask(prediction, EXAMPLE_WIDTH, nh)
    return Example(image.copy(), labels.copy(), prediction.copy(), name)


def evaluate_samples(
    predictor: Predictor,
    samples: Iterable[Prepared],
    *,
    batch_size: int = 4,
    examples: int = 0,
    outcome: Outcome | None = None,
) -> Outcome:
    """Run ``predictor`` over prepared samples and accumulate the confusion matrix at label size."""
    outcome = outcome or Outcome(ConfusionMatrix(predictor.num_classes))
    batch_size = max(1, min(batch_size, predictor.max_batch))
    pending: list[Prepared] = []

    def flush() -> None:
        t0 = time.perf_counter()
        batch = to_input([p.image for p in pending], predictor.input)
        t1 = time.perf_counter()
        maps = predictor.predict(batch)
        t2 = time.perf_counter()
        for prepared, class_map in zip(pending, maps, strict=True):
            prediction = restore_class_map(class_map, prepared.geometry)
            if outcome.stream_of is None:
                outcome.matrix.update(prediction, prepared.labels)
            else:
                frame = ConfusionMatrix(outcome.matrix.num_classes, outcome.matrix.ignore_index)
                frame.update(prediction, prepared.labels)
                outcome.matrix.merge(frame)
                stream = outcome.stream_of(prepared.name)
                outcome.streams.setdefault(stream, ConfusionMatrix(frame.num_classes, frame.ignore_index)).merge(frame)
            if len(outcome.examples) < examples and prepared.original is not None:
                outcome.examples.append(_shrink(prepared.original, prepared.labels, prediction, prepared.name))
        t3 = time.perf_counter()
        outcome.seconds["preprocess"] += t1 - t0
        outcome.seconds["infer"] += t2 - t1
        outcome.seconds["postprocess"] += t3 - t2
        outcome.num_images += len(pending)
        pending.clear()

    for prepared in samples:
        pending.append(prepared)
        if len(pending) == batch_size:
            flush()
    if pending:
        flush()
    return outcome


def prepared_stream(
    dataset: SegmentationDataset, spec: InputSpec, resize: ResizeMode, outcome: Outcome, keep_originals: int = 0
) -> Iterator[Prepared]:
    """Load and fit each sample lazily, charging the time to ``load`` and ``preprocess``."""
    for index in range(len(dataset)):
        t0 = time.perf_counter()
        sample = dataset[index]
        t1 = time.perf_counter()
        prepared = prepare(sample, spec, resize, keep_original=index < keep_originals)
        outcome.seconds["load"] += t1 - t0
        outcome.seconds["preprocess"] += time.perf_counter() - t1
        yield prepared


# ------------------------------------------------------------------------------------- model files


@dataclass(frozen=True)
class LoadedModel:
    predictor: Predictor
    class_names: tuple[str, ...]
    palette: tuple[tuple[int, int, int], ...]
    backend: str


def open_predictor(path: str | Path, *, device: str = "cpu", threads: int | None = None,
                   size: tuple[int, int] | None = None) -> LoadedModel:
    """An ONNX/engine file through the registry, or a segstream ``.pt`` checkpoint through torch."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model file {path} does not exist")
    if path.suffix.lower() in (".pt", ".pth"):
        from engines.metadata import sidecar_path

        if sidecar_path(path) is None:
            return _open_checkpoint(path, device=device, threads=threads, size=size)
    from engines.registry import open_engine

    engine = open_engine(path, device=device, threads=threads)
    predictor = EnginePredictor(engine)
    if size is not None:
        if not engine.meta.input.dynamic_size and size != (engine.meta.input.height, engine.meta.input.width):
            raise ModelError(f"{path} has a fixed input size {engine.meta.input.height}x{engine.meta.input.width}; drop --size")
        predictor.input = dataclasses.replace(predictor.input, height=size[0], width=size[1])
    return LoadedModel(predictor, engine.meta.class_names, engine.meta.palette, engine.backend)


def _open_checkpoint(path: Path, *, device: str, threads: int | None, size: tuple[int, int] | None) -> LoadedModel:
    try:
        import torch
    except ImportError:
        raise EngineUnavailableError("evaluating a .pt checkpoint needs torch: pip install 'segstream[train]'") from None
    from engines.checkpoints import load_checkpoint

    if threads:
        torch.set_num_threads(int(threads))
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise EngineUnavailableError("device 'cuda' was asked for but torch sees no CUDA GPU; use --device cpu")
    loaded = load_checkpoint(path)
    height, width = size or loaded.input_size or (0, 0)
    if not height:
        raise ModelError(f"{path} does not record its input size; pass --size HEIGHTxWIDTH")
    spec = torch_input_spec(height, width)
    predictor = TorchPredictor(loaded.model.to(device).eval(), spec, len(loaded.class_names), device=device)
    return LoadedModel(predictor, loaded.class_names, loaded.palette, "torch")


def torch_input_spec(height: int, width: int) -> InputSpec:
    """What engines.models networks take: float32 RGB NCHW with ImageNet mean/std (to_input makes it)."""
    return InputSpec(name="input", layout="NCHW", dtype="float32", color="RGB", height=height, width=width,
                     dynamic_batch=True, dynamic_size=True)


# ---------------------------------------------------------------------------------------- the CLI


def evaluate(
    model_path: str | Path,
    data: str,
    *,
    num: int | None = None,
    batch_size: int = 4,
    device: str = "cpu",
    threads: int | None = None,
    size: tuple[int, int] | None = None,
    resize: ResizeMode = "stretch",
    examples: int = 0,
) -> tuple[dict[str, Any], Outcome, LoadedModel, SegmentationDataset]:
    """Evaluate ``model_path`` on ``data``; returns the JSON-ready report and the raw outcome."""
    dataset = open_dataset(data)
    loaded = open_predictor(model_path, device=device, threads=threads, size=size)
    if loaded.predictor.num_classes != dataset.num_classes:
        raise ModelError(
            f"{model_path} predicts {loaded.predictor.num_classes} classes but {dataset.spec} has "
            f"{dataset.num_classes}; evaluate on data with the model's label set"
        )
    warnings = []
    if tuple(loaded.class_names) != tuple(dataset.class_names):
        warnings.append("the model's class names differ from the dataset's; per-class IoU uses the dataset's names")
    subset = Subset(dataset, spread_indices(len(dataset), num))
    outcome = Outcome(ConfusionMatrix(dataset.num_classes), stream_of=_stream_of(dataset))
    started = time.perf_counter()
    evaluate_samples(
        loaded.predictor,
        prepared_stream(subset, loaded.predictor.input, resize, outcome, keep_originals=examples),
        batch_size=batch_size,
        examples=examples,
        outcome=outcome,
    )
    wall = time.perf_counter() - started
    report: dict[str, Any] = {
        "model": str(model_path),
        "data": data,
        "num_images": outcome.num_images,
        **outcome.matrix.summary(dataset.class_names),
        "class_names": list(dataset.class_names),
        "backend": loaded.backend,
        "device": device,
        "input_size": [loaded.predictor.input.height, loaded.predictor.input.width],
        "resize": resize,
        "timing": {**outcome.timing(), "wall_s": round(wall, 3)},
        "warnings": warnings,
    }
    if outcome.streams:
        report["per_stream"] = {name: {"miou": None if np.isnan(m.miou()) else m.miou(), "num_pixels": m.total,
                                       "predicted_absent": m.predicted_absent(dataset.class_names)}
                                for name, m in outcome.streams.items()}
    return report, outcome, loaded, dataset


def _stream_of(dataset: SegmentationDataset) -> Callable[[str], str] | None:
    """Several synthetic videos in one spec (``seeds=A,B`` or ``camera=dashcam,fixed``): name each
    sample's video (``seed7/dashcam``) so that every video also gets its own mIoU."""
    if not isinstance(dataset, SyntheticDataset) or dataset.num_streams < 2:
        return None
    return lambda name: name.rsplit("/", 1)[0]





def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="model file: .onnx (+ sidecar), .engine, or a training .pt")
    parser.add_argument("--data", required=True, help="synthetic://..., cityscapes:ROOT[:split], voc:ROOT[:split], folder:ROOT")
    parser.add_argument("--json", required=True, help="where to write the metrics JSON")
    parser.add_argument("--num", type=int, default=None, help="evaluate N samples spread over the dataset (default: all)")
    parser.add_argument("--plots", default=None, help="folder for per-class IoU, confusion matrix and example plots")
    parser.add_argument("--batch", type=int, default=4, help="images per model call (default 4)")
    parser.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for the model")
    parser.add_argument("--size", type=hw_argument, default=None, help="HEIGHTxWIDTH input for dynamic-size models")
    parser.add_argument("--resize", choices=("stretch", "letterbox"), default="stretch", help="as the pipeline's preprocess.resize")
    parser.add_argument("--examples", type=int, default=4, help="example rows in the plot grid (default 4)")
    args = parser.parse_args(argv)
    if args.num is not None and args.num <= 0:
        parser.error("--num must be positive")
    if args.batch <= 0:
        parser.error("--batch must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
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
    except (UserInputError, EngineUnavailableError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
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
