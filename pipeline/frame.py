"""The values that travel between pipeline components: a Frame in, a SegResult out."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True, eq=False)
class Frame:
    """One decoded frame. Nothing downstream modifies ``image``.

    ``pts`` is the presentation time in seconds on the source's own timeline (None when the source
    has none); ``capture_time`` is ``time.monotonic()`` when the frame was read (or the host's own
    timestamp for pushed frames), the start of end-to-end latency. ``labels`` carries ground truth
    where the source has it (the synthetic source), so accuracy can be measured end to end.
    """

    image: np.ndarray  # H×W×3 uint8 BGR
    source_id: str
    index: int  # 0-based, per source, counts frames delivered by the source
    pts: float | None
    capture_time: float
    labels: np.ndarray | None = None  # H×W uint8, 255 = ignore

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the original frame."""
        return (self.width, self.height)


@dataclass(frozen=True, eq=False)
class SegResult:
    """The segmentation of one frame, at the frame's own size."""

    frame: Frame
    class_map: np.ndarray  # H×W uint8 class ids
    fractions: np.ndarray  # K float32, pixel fraction per class
    timings_ms: dict[str, float] = field(default_factory=dict)  # stage name → milliseconds
    rendered: np.ndarray | None = None  # H'×W'×3 uint8 BGR visualisation, when rendering is on

    @property
    def latency_ms(self) -> float | None:
        return self.timings_ms.get("e2e")
