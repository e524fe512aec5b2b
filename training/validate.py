"""Validation: the network being trained, scored on ``data.val`` by the evaluator's own code.

The samples (``data.val_num`` of them spread evenly, or all) are fitted once, at the start, as the
evaluator fits every image. At each validation the network runs through the registry's PyTorch
engine (``TorchEngine`` with the network handed in, at the precision it trains in; under autocast
when the run uses AMP) and ``evaluate_samples`` scores its class maps at the labels' full
resolution, so a validation mIoU is the number ``python -m training.evaluate`` reports for the
checkpoint.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch

from engines.backends.torch import TorchEngine
from segcore.errors import ConfigError
from training.config import TrainConfig
from training.data.datasets import SegmentationDataset, Subset, open_datasets, spread_indices
from training.evaluation.predictor import Predictor
from training.evaluation.samples import Prepared, prepare
from training.evaluation.scoring import evaluate_samples
from training.network_io import AS_TRAINED, network_meta, torch_input_spec

if TYPE_CHECKING:
    from training.setup import Run


def validation_samples(cfg: TrainConfig, train_set: SegmentationDataset) -> list[Prepared]:
    """``data.val`` fitted to the input size; it must have the training set's classes."""
    if not cfg.data.val:
        return []
    val_set = open_datasets(cfg.data.val)
    if val_set.class_names != train_set.class_names:
        raise ConfigError(f"data.val ({val_set.spec}) has other classes than data.train ({train_set.spec})")
    val_set = Subset(val_set, spread_indices(len(val_set), cfg.data.val_num or None))
    spec = torch_input_spec(*cfg.data.input_size)
    return [prepare(val_set[i], spec) for i in range(len(val_set))]


class Validator:
    """Validates ``run``'s network every ``train.val_every`` steps and at the last step."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.engine: TorchEngine | None = None
        if run.val_samples:
            height, width = run.cfg.data.input_size
            meta = network_meta("validation", run.train_set.class_names, run.train_set.palette, height, width,
                                run.architecture)
            self.engine = TorchEngine("validation", meta, device=str(run.device), model=run.model,
                                      **AS_TRAINED)

    def due(self, step: int) -> bool:
        every, last = self.run.cfg.train.val_every, self.run.cfg.schedule.steps
        return self.engine is not None and (step % every == 0 or step == last)

    def __call__(self) -> tuple[float | None, float | None]:
        """(mIoU, pixel accuracy), None where validation counted no pixels."""
        if self.engine is None:
            raise RuntimeError("nothing to validate: data.val is empty")
        run = self.run
        run.model.eval()
        try:
            with torch.autocast(run.device.type, dtype=torch.float16, enabled=run.amp):
                outcome = evaluate_samples(Predictor(self.engine), run.val_samples,
                                           batch_size=run.cfg.train.val_batch_size)
        finally:
            run.model.train()
        miou, accuracy = outcome.matrix.miou(), outcome.matrix.pixel_accuracy()
        return (None if math.isnan(miou) else miou), (None if math.isnan(accuracy) else accuracy)

    def close(self) -> None:
        if self.engine is not None:
            self.engine.close()
