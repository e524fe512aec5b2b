"""A labelled sample fitted to a model's input, as the pipeline's preprocess fits a frame."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from engines.metadata import InputSpec
from engines.transforms import Geometry, ResizeMode, fit
from training.data.datasets import Sample, SegmentationDataset


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


def prepared_stream(
    dataset: SegmentationDataset, spec: InputSpec, resize: ResizeMode, seconds: dict[str, float], keep_originals: int = 0
) -> Iterator[Prepared]:
    """Load and fit each sample lazily, adding the time taken to ``seconds["load"]`` and ``["preprocess"]``."""
    for index in range(len(dataset)):
        t0 = time.perf_counter()
        sample = dataset[index]
        t1 = time.perf_counter()
        prepared = prepare(sample, spec, resize, keep_original=index < keep_originals)
        seconds["load"] += t1 - t0
        seconds["preprocess"] += time.perf_counter() - t1
        yield prepared
