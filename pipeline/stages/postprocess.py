"""Postprocess: engine output → class map at the frame's own size, smoothed, with class fractions.

* argmax, unless the engine already returns a class map;
* back to the frame size with the letterbox padding removed: nearest on the class map, or
  bilinear on the logits (``upsample: bilinear``, logits models only);
* optional temporal smoothing per source (EMA of probabilities — logits models only — or a
  k-frame majority vote);
* the pixel fraction of every class, and, when the frame has labels, its confusion matrix.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engines.decode import class_ids, scores_of
from engines.metadata import OutputSpec
from engines.transforms import (
    Geometry,
    class_fractions,
    resize_mask,
    restore_class_map,
    restore_logits,
)
from pipeline.config import check_allowed
from pipeline.config_schema import Smoothing, Upsample
from pipeline.stage import Packet
from pipeline.stages.smoothing import EmaSmoother, MajorityVote
from segcore.accuracy import confusion_matrix
from segcore.errors import ConfigError


def restore(
    output: np.ndarray, spec: OutputSpec, geometry: Geometry, upsample: str = "nearest", num_classes: int = 256
) -> np.ndarray:
    """One frame's engine output (scores or class ids in ``spec``'s convention, at any output
    resolution) → H×W uint8 class map; class ids of ``num_classes`` or more are refused."""
    if spec.scores and upsample == "bilinear":
        return restore_logits(scores_of(output, spec), geometry)
    return restore_class_map(class_ids(output, spec, num_classes), geometry)


@dataclass
class _SourceState:
    ema: EmaSmoother | None = None
    vote: MajorityVote | None = None
    geometry: Geometry | None = field(default=None)


class PostprocessStage:
    name = "postprocess"

    def __init__(
        self,
        spec: OutputSpec,
        num_classes: int,
        *,
        upsample: Upsample = "nearest",
        smoothing: Smoothing = "none",
        ema_alpha: float = 0.5,
        majority_window: int = 3,
    ) -> None:
        check_allowed("postprocess.upsample", upsample)
        check_allowed("postprocess.smoothing", smoothing)
        if smoothing == "ema":
            check_allowed("postprocess.ema_alpha", ema_alpha)
        if smoothing == "majority":
            check_allowed("postprocess.majority_window", majority_window)
        if not spec.scores and (upsample == "bilinear" or smoothing == "ema"):
            raise ConfigError("bilinear upsampling and EMA smoothing need a model that returns logits")
        self.spec = spec
        self.num_classes = num_classes
        self.upsample = upsample
        self.smoothing = smoothing
        self.ema_alpha = ema_alpha
        self.majority_window = majority_window
        self._states: dict[str, _SourceState] = {}
        self.label_mismatch: dict[str, str] = {}  # source id → why its labels cannot be scored
        self._gone: set[str] = set()  # sources removed while running: their smoothing state is not kept

    def start(self) -> None:
        pass

    def skip_scoring(self, source_id: str, why: str) -> None:
        """Compute no accuracy for ``source_id`` (its labels are of another label set: ``why``)."""
        self.label_mismatch[source_id] = why

    def forget(self, source_id: str) -> None:
        """``source_id`` was removed: drop its smoothing state (its last frames are smoothed afresh)."""
        self._gone.add(source_id)
        self._states.pop(source_id, None)

    def _state(self, source_id: str, geometry: Geometry) -> _SourceState:
        state = self._states.get(source_id)
        if state is None or state.geometry != geometry:  # new source, or its frame size changed
            state = _SourceState(
                ema=EmaSmoother(self.ema_alpha) if self.smoothing == "ema" else None,
                vote=MajorityVote(self.majority_window) if self.smoothing == "majority" else None,
                geometry=geometry,
            )
            if source_id not in self._gone:
                self._states[source_id] = state
        return state

    def class_map(self, output: np.ndarray, geometry: Geometry, source_id: str) -> np.ndarray:
        """The smoothed class map at frame size for one frame of ``source_id``."""
        if self.smoothing == "none":
            return restore(output, self.spec, geometry, self.upsample, self.num_classes)
        state = self._state(source_id, geometry)
        if state.ema is None and self.upsample != "bilinear":
            small = class_ids(output, self.spec, self.num_classes)
            return restore_class_map(state.vote.update(small) if state.vote is not None else small, geometry)
        raw = scores_of(output, self.spec)
        scores = state.ema.update(raw) if state.ema is not None else raw
        if self.upsample == "bilinear":
            class_map = restore_logits(scores, geometry)
            return state.vote.update(class_map) if state.vote is not None else class_map
        small = np.argmax(scores, axis=0).astype(np.uint8)
        if state.vote is not None:
            small = state.vote.update(small)
        return restore_class_map(small, geometry)

    def process(self, packet: Packet) -> Packet:
        if packet.output is None or packet.geometry is None:
            raise RuntimeError("postprocess got a packet without engine output")
        frame = packet.frame
        class_map = self.class_map(packet.output, packet.geometry, frame.source_id)
        packet.class_map = class_map
        packet.output = None
        packet.fractions = class_fractions(class_map, self.num_classes)
        if frame.labels is not None and frame.source_id not in self.label_mismatch:
            labels = frame.labels
            if labels.shape != class_map.shape:
                labels = resize_mask(labels, class_map.shape[1], class_map.shape[0])
            try:
                packet.confusion = confusion_matrix(class_map, labels, self.num_classes)
            except ValueError as exc:  # labels from another label set: no accuracy, but no crash
                self.label_mismatch[frame.source_id] = str(exc)
        return packet

    def stop(self) -> None:
        self._states.clear()
