"""Preprocess: fit a BGR frame to the model input (stretch or letterbox), then convert it.

A uint8 model gets the resized frame as it is (the graph converts and normalises); a float model
gets RGB/BGR as its sidecar declares, normalised with its mean/std. All of it is
``engines.transforms``, the functions the evaluator uses too.
"""

from __future__ import annotations

import numpy as np

from engines.metadata import InputSpec
from engines.transforms import Geometry, ResizeMode, fit, to_input
from pipeline.config import check_allowed
from pipeline.frame import Frame
from pipeline.stage import Packet


def preprocess_image(
    image: np.ndarray, spec: InputSpec, size: tuple[int, int], resize: ResizeMode = "stretch"
) -> tuple[np.ndarray, Geometry]:
    """A BGR uint8 frame → (1×… model input, geometry). ``size`` is (height, width)."""
    fitted, geometry = fit(image, size[0], size[1], resize)
    return to_input([fitted], spec), geometry


class PreprocessStage:
    name = "preprocess"

    def __init__(self, spec: InputSpec, size: tuple[int, int], resize: ResizeMode = "stretch") -> None:
        check_allowed("preprocess.resize", resize)
        self.spec = spec
        self.size = size
        self.resize = resize

    def start(self) -> None:
        pass

    def process(self, frame: Frame) -> Packet:
        tensor, geometry = preprocess_image(frame.image, self.spec, self.size, self.resize)
        return Packet(frame=frame, geometry=geometry, tensor=tensor)

    def stop(self) -> None:
        pass
