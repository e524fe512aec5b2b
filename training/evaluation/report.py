"""One evaluation as the JSON report ``python -m training.evaluate`` writes (its docstring says how
the pooled mIoU and each video's own mIoU, ``per_stream``, differ)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from engines.errors import ModelError
from engines.transforms import ResizeMode
from segcore.accuracy import ConfusionMatrix
from training.data.datasets import SegmentationDataset, Subset, SyntheticDataset, open_dataset, spread_indices
from training.evaluation.predictor import LoadedModel, open_predictor
from training.evaluation.samples import prepared_stream
from training.evaluation.scoring import Outcome, evaluate_samples


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
        prepared_stream(subset, loaded.predictor.input, resize, outcome.seconds, keep_originals=examples),
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
