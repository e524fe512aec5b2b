"""Predictions scored against full-resolution labels: the confusion matrices, timings and examples."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engines.transforms import resize_image, resize_mask, restore_class_map, to_input
from segcore.accuracy import ConfusionMatrix
from training.evaluation.predictor import Predictor
from training.evaluation.samples import Prepared

EXAMPLE_WIDTH = 512  # examples kept for the plot grid are shrunk to this width


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
