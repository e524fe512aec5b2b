"""Training losses for N×K×H×W logits against N×H×W int64 labels with 255 = ignore.

``SegmentationLoss`` = ``ce_weight`` × cross-entropy (optionally class-weighted, optionally OHEM:
only the hardest pixels count) + ``dice_weight`` × soft Dice over the classes present in the batch.
Ignored pixels contribute nothing to any term. Logits are always K channels with a softmax: a
single-channel sigmoid followed by an argmax (always class 0) cannot happen here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from segcore.labels import IGNORE_INDEX


def class_weights_from_counts(counts: Sequence[float] | np.ndarray, c: float = 1.02) -> np.ndarray:
    """ENet-style weights ``1 / ln(c + p)`` from per-class pixel counts, normalised to mean 1 over
    the classes that occur (absent classes get weight 1)."""
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    if total <= 0:
        return np.ones(len(counts), dtype=np.float32)
    p = counts / total
    weights = 1.0 / np.log(c + p)
    present = counts > 0
    weights[present] /= weights[present].mean()
    weights[~present] = 1.0
    return weights.astype(np.float32)


def label_histogram(labels: np.ndarray, num_classes: int) -> np.ndarray:
    flat = np.asarray(labels).ravel()
    return np.bincount(flat[flat != IGNORE_INDEX], minlength=num_classes)[:num_classes].astype(np.int64)


class SegmentationLoss(nn.Module):
    def __init__(
        self,
        num_classes: int,
        *,
        ce_weight: float = 1.0,
        dice_weight: float = 0.0,
        class_weights: Sequence[float] | None = None,
        ohem: bool = False,
        ohem_thresh: float = 0.7,
        ohem_min_kept: int = 100_000,
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__()
        if ce_weight < 0 or dice_weight < 0 or ce_weight + dice_weight <= 0:
            raise ValueError("loss weights must be >= 0 and not all zero")
        if not 0.0 < ohem_thresh <= 1.0:
            raise ValueError(f"ohem_thresh is a probability in (0, 1], got {ohem_thresh}")
        self.num_classes = num_classes
        self.ce_weight = ce_weight
        self.dice_weight = dice_weight
        self.ohem = ohem
        self.ohem_loss_thresh = -math.log(ohem_thresh)
        self.ohem_min_kept = int(ohem_min_kept)
        self.label_smoothing = label_smoothing
        weight = None
        if class_weights is not None:
            if len(class_weights) != num_classes:
                raise ValueError(f"{len(class_weights)} class weights for {num_classes} classes")
            weight = torch.as_tensor(list(class_weights), dtype=torch.float32)
        self.register_buffer("weight", weight, persistent=False)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if not isinstance(logits, torch.Tensor):
            raise TypeError(
                f"the model returned {type(logits).__name__}, not one logits tensor; engines.models' "
                "forward returns N×K×H×W logits (use forward_with_aux for the auxiliary head)"
            )
        if logits.ndim != 4 or logits.shape[1] != self.num_classes:
            raise ValueError(f"expected N×{self.num_classes}×H×W logits, got {tuple(logits.shape)}")
        if logits.shape[-2:] != target.shape[-2:]:
            raise ValueError(f"logits are {tuple(logits.shape[-2:])} but labels {tuple(target.shape[-2:])}")
        logits = logits.float()
        loss = logits.new_zeros(())
        if self.ce_weight:
            loss = loss + self.ce_weight * self._cross_entropy(logits, target)
        if self.dice_weight:
            loss = loss + self.dice_weight * self._dice(logits, target)
        return loss

    def _cross_entropy(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        weight: torch.Tensor | None = self.weight.to(logits.device) if isinstance(self.weight, torch.Tensor) else None
        if not self.ohem:
            return F.cross_entropy(logits, target, weight=weight, ignore_index=IGNORE_INDEX,
                                   label_smoothing=self.label_smoothing)
        pixel = F.cross_entropy(logits, target, weight=weight, ignore_index=IGNORE_INDEX,
                                label_smoothing=self.label_smoothing, reduction="none").flatten()
        valid = target.flatten() != IGNORE_INDEX
        losses = pixel[valid]
        if losses.numel() == 0:
            return logits.sum() * 0.0
        hard = losses[losses > self.ohem_loss_thresh]
        min_kept = min(self.ohem_min_kept, losses.numel())
        if hard.numel() < min_kept:
            hard = torch.topk(losses, min_kept, sorted=False).values
        return hard.mean()

    def _dice(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        # Per-class soft Dice without a one-hot tensor (which would be N×K×H×W int64): the
        # intersection gathers each pixel's probability of its true class and sums it per class.
        probs = logits.softmax(dim=1)
        valid = target != IGNORE_INDEX
        labels = target[valid]
        if labels.numel() == 0:
            return logits.sum() * 0.0
        true_prob = probs.gather(1, torch.where(valid, target, torch.zeros_like(target)).unsqueeze(1)).squeeze(1)[valid]
        inter = probs.new_zeros(self.num_classes).index_add_(0, labels, true_prob)
        prob_sum = (probs * valid.unsqueeze(1)).sum(dim=(0, 2, 3))
        label_sum = torch.bincount(labels, minlength=self.num_classes).to(probs.dtype)
        present = label_sum > 0
        dice = (2 * inter + 1.0) / (prob_sum + label_sum + 1.0)
        return (1.0 - dice[present]).mean()
