"""Synchronous segmentation for hosts that own their threads: one image in, one class map out.

>>> from pipeline import Segmenter
>>> with Segmenter.from_model() as seg:                     # doctest: +SKIP
...     result = seg.segment(bgr)                           # H×W×3 uint8 BGR
...     result.class_map, result.fraction("road")

Thread-safety: a Segmenter may be shared between threads. Calls are serialised by an internal
lock, so one inference runs at a time and results are exactly those of sequential calls (the
engine backends, TensorRT above all, do not allow concurrent use of one execution context).
For parallel inference, give each thread its own Segmenter, or batch with ``segment_batch``,
or use ``Pipeline``, which overlaps decoding, pre/postprocessing and inference across threads.
"""

from __future__ import annotations

import difflib
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engines.engine import Engine
from engines.registry import open_engine
from engines.transforms import RESIZE_MODES, class_fractions
from pipeline.construction import resolve_model_path
from pipeline.stages.postprocess import restore
from pipeline.stages.preprocess import preprocess_image
from segcore.errors import SourceError


@dataclass(frozen=True, eq=False)
class Segmentation:
    """The segmentation of one image, at the image's own size."""

    class_map: np.ndarray  # H×W uint8 class ids
    fractions: np.ndarray  # K float32: pixel fraction per class
    class_names: tuple[str, ...]

    def fraction(self, class_name: str) -> float:
        """The fraction of pixels labelled ``class_name``; KeyError (listing the names) if no class has it."""
        return float(self.fractions[self.class_id(class_name)])

    def mask(self, class_name: str) -> np.ndarray:
        """A boolean H×W mask of the pixels labelled ``class_name``; KeyError if no class has it."""
        return self.class_map == self.class_id(class_name)

    def class_id(self, class_name: str) -> int:
        """The class id of ``class_name``; KeyError naming the model's classes if it has none by that name."""
        try:
            return self.class_names.index(class_name)
        except ValueError:
            close = difflib.get_close_matches(str(class_name), self.class_names, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise KeyError(
                f"no class {class_name!r} in this model; {hint}its {len(self.class_names)} classes are: "
                + ", ".join(self.class_names)
            ) from None


class Segmenter:
    """An engine plus the project's exact pre- and postprocessing, called synchronously."""

    def __init__(self, engine: Engine, *, resize: str = "stretch", upsample: str = "nearest") -> None:
        if resize not in RESIZE_MODES:
            raise ValueError(f"resize must be one of {', '.join(RESIZE_MODES)}, not {resize!r}")
        self.engine = engine
        self.meta = engine.meta
        self.resize = resize
        self.upsample = upsample if self.meta.output.kind == "logits" else "nearest"
        self.size = (self.meta.input.height, self.meta.input.width)
        self._lock = threading.Lock()

    @classmethod
    def from_model(
        cls,
        path: str | Path | None = None,
        *,
        backend: str = "auto",
        device: str = "auto",
        threads: int | None = None,
        resize: str = "stretch",
        **options: Any,
    ) -> Segmenter:
        """Open ``path`` (default: the bundled model) with its sidecar; raises ModelError if missing."""
        engine = open_engine(resolve_model_path(path), backend=backend, device=device, threads=threads, **options)
        return cls(engine, resize=resize)

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.meta.class_names

    @property
    def palette(self) -> tuple[tuple[int, int, int], ...]:
        """RGB colour of every class."""
        return self.meta.palette

    def segment(self, image: np.ndarray) -> Segmentation:
        """Segment one H×W×3 uint8 BGR image."""
        return self.segment_batch([image])[0]

    def segment_batch(self, images: Sequence[np.ndarray]) -> list[Segmentation]:
        """Segment several images, in engine batches as large as the engine allows."""
        for image in images:
            _check_image(image)
        if self.engine is None:
            raise RuntimeError("this Segmenter is closed")
        results: list[Segmentation] = []
        step = max(1, int(self.engine.max_batch))
        for start in range(0, len(images), step):
            chunk = images[start : start + step]
            prepared = [preprocess_image(image, self.meta.input, self.size, self.resize) for image in chunk]  # type: ignore[arg-type]
            batch = prepared[0][0] if len(prepared) == 1 else np.concatenate([p[0] for p in prepared])
            with self._lock:
                if self.engine is None:
                    raise RuntimeError("this Segmenter is closed")
                output = self.engine.infer(batch)
            for (_, geometry), out in zip(prepared, output, strict=True):
                class_map = restore(out, self.meta.output, geometry, self.upsample)
                results.append(
                    Segmentation(class_map, class_fractions(class_map, self.meta.num_classes), self.meta.class_names)
                )
        return results

    def close(self) -> None:
        with self._lock:
            if self.engine is not None:
                self.engine.close()
                self.engine = None  # type: ignore[assignment]

    def __enter__(self) -> Segmenter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _check_image(image: Any) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        shape = getattr(image, "shape", None)
        dtype = getattr(image, "dtype", type(image).__name__)
        raise SourceError(f"expected an H×W×3 uint8 BGR image, got {dtype} {shape}")
