"""The Stage protocol and the Packet that travels between stages.

A stage's life is ``start()`` → ``process(item)`` for every item → ``stop()``, all three called on
the stage's own thread by ``Pipeline`` (heavy and device set-up belongs in ``start()``, so a CUDA
context lives on the thread that uses it). ``process`` returns the item for the next stage.

A stage that can work on several items at once also has ``max_batch`` (read after ``start()``)
and ``process_batch(items) -> list``; the pipeline then gathers up to ``max_batch`` items with a
bounded wait before each call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from engines.transforms import Geometry
from pipeline.frame import Frame


@runtime_checkable
class Stage(Protocol):
    name: str

    def start(self) -> None:
        """Acquire resources (on the stage's thread). An exception here fails ``Pipeline.start()``."""
        ...

    def process(self, item: Any) -> Any:
        """Turn one item into the next stage's item."""
        ...

    def stop(self) -> None:
        """Release resources (on the stage's thread). Called once, also after a failure."""
        ...


@runtime_checkable
class BatchStage(Stage, Protocol):
    max_batch: int

    def process_batch(self, items: list[Any]) -> list[Any]:
        """Process several items in one go; return one result per item, in order."""
        ...


@dataclass(eq=False)
class Packet:
    """One frame on its way through the stages; each stage fills in its part."""

    frame: Frame
    timings_ms: dict[str, float] = field(default_factory=dict)
    geometry: Geometry | None = None  # preprocess: where the frame sits in the model input
    tensor: np.ndarray | None = None  # preprocess: 1×… model input for this frame
    output: np.ndarray | None = None  # infer: this frame's raw engine output (K×h×w or h×w)
    class_map: np.ndarray | None = None  # postprocess: H×W uint8 at frame size
    fractions: np.ndarray | None = None  # postprocess: K float32
    confusion: np.ndarray | None = None  # postprocess: K×K counts against the frame's labels
