"""The pieces of the step loop: the batches of a range of steps, one optimisation step, the mean
loss of each log interval, the progress bar and the metrics log."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

from training.batches import StepBatches
from training.setup import Run


def step_loader(run: Run, start: int, end: int) -> torch.utils.data.DataLoader:  # type: ignore[type-arg]
    """The batches of steps ``start`` to ``end - 1``, one item a step, by ``data.num_workers`` workers."""
    return torch.utils.data.DataLoader(
        StepBatches(run.train_set, run.cfg), batch_size=None, sampler=range(start, end),
        num_workers=run.cfg.data.num_workers, pin_memory=run.device.type == "cuda", persistent_workers=False,
    )


def optimisation_step(run: Run, inputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Forward (with the auxiliary head's loss when it counts), backward, clip, step; the loss, detached."""
    cfg, model, criterion, optimizer, scaler = run.cfg, run.model, run.criterion, run.optimizer, run.scaler
    inputs = inputs.to(run.device, non_blocking=True).contiguous(memory_format=run.memory_format)
    labels = labels.to(run.device, non_blocking=True).long()
    with torch.autocast(run.device.type, dtype=torch.float16, enabled=run.amp):
        if run.aux:
            logits, aux_logits = model.forward_with_aux(inputs)  # type: ignore[operator]
        else:
            logits, aux_logits = model(inputs), None
    loss = criterion(logits, labels)
    if aux_logits is not None:
        loss = loss + cfg.loss.aux_weight * criterion(aux_logits, labels)
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    if cfg.train.grad_clip > 0:
        scaler.unscale_(optimizer)
        nn.utils.clip_grad_norm_(model.parameters(), cfg.train.grad_clip)
    scaler.step(optimizer)
    scaler.update()
    run.scheduler.step()
    return loss.detach()


class LossMeter:
    """Sums the step losses on the device (no sync every step); ``take`` closes a log interval."""

    def __init__(self, device: torch.device) -> None:
        self.running = torch.zeros((), device=device)
        self.count = 0
        self.means: list[float] = []  # mean loss of each log interval

    def add(self, loss: torch.Tensor) -> None:
        self.running += loss
        self.count += 1

    def take(self, step: int) -> float:
        mean = self.running.item() / self.count
        if not math.isfinite(mean):
            raise FloatingPointError(f"the loss became {mean} before step {step}; lower optim.lr or check the labels")
        self.means.append(mean)
        self.running.zero_()
        self.count = 0
        return mean


def progress_bar(progress: bool | None, total: int, initial: int) -> Any:
    """A tqdm bar on stderr; ``progress`` None shows it only on a terminal."""
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, disable={None: None, True: False, False: True}[progress],
                dynamic_ncols=True, desc="train", leave=True)


def append_record(path: Path, record: dict[str, Any]) -> None:
    """One JSON line in ``metrics.jsonl``."""
    with path.open("a") as fh:
        fh.write(json.dumps(record) + "\n")
