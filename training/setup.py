"""Everything one training run is made of, built in this order by ``set_up``.

The device (``engines``' resolver: ``auto`` is the GPU when torch sees one) and the precision
(AMP on CUDA); a check that the output folder can be written; the training data and the
validation samples; the network (initialised from ``model.init_checkpoint`` on a fresh run); the
training data pre-rendered as ``data.cache`` says; the loss; AdamW or SGD on a poly schedule with
linear warm-up; the AMP grad scaler. Nothing here runs a step or writes into the output folder,
and a wrong data spec, model or initial checkpoint is found before the data cache is written.
``write_run_config`` writes the folder and the resolved ``config.yaml`` once the run is about to
start (after a ``--resume`` checkpoint was read), so a failed start leaves an existing run alone.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from torch import nn

from engines.backends.torch import torch_device
from engines.errors import EngineUnavailableError
from engines.registry import resolve_device
from segcore.errors import ConfigError, OutputError
from segcore.files import check_folder, make_folder, write_atomic
from training.checkpoint import load_init_weights
from training.config import TrainConfig
from training.data.datasets import ConcatDataset, SegmentationDataset, open_datasets, spread_indices
from training.evaluation.samples import Prepared
from training.losses import SegmentationLoss, class_weights_from_counts, label_histogram
from training.validate import validation_samples

Say = Callable[[str], None]
OUTPUT_DIR = "training output folder (output.dir)"


@dataclass
class Run:
    """The parts of one training run, as ``set_up`` built them."""

    cfg: TrainConfig
    device: torch.device
    amp: bool
    memory_format: torch.memory_format
    out_dir: Path
    train_set: SegmentationDataset
    val_samples: list[Prepared]
    model: nn.Module
    architecture: dict[str, Any]
    aux: bool  # the auxiliary head's loss counts
    criterion: SegmentationLoss
    class_weights: list[float] | None
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    scaler: torch.amp.GradScaler


def set_up(cfg: TrainConfig, *, fresh: bool, say: Say) -> Run:
    """Build the run ``cfg`` describes; ``fresh`` (not resuming) applies ``model.init_checkpoint``."""
    device = training_device(cfg.train.device)
    if cfg.train.threads > 0:
        torch.set_num_threads(cfg.train.threads)
    torch.manual_seed(cfg.train.seed)
    if cfg.train.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
    amp = device.type == "cuda" if cfg.train.amp == "auto" else cfg.train.amp == "true"
    if amp and device.type != "cuda":
        raise ConfigError("train.amp: true needs a CUDA device; use amp: auto or false on the CPU")
    out_dir = check_folder(cfg.output.dir, OUTPUT_DIR)

    datasets = open_datasets(cfg.data.train)
    val_samples = validation_samples(cfg, datasets)
    num_classes = datasets.num_classes
    model, architecture = build_model(cfg, num_classes)
    if cfg.model.init_checkpoint and fresh:
        report = load_init_weights(model, cfg.model.init_checkpoint)
        say(f"initialised from {cfg.model.init_checkpoint}; fresh head tensors: {_some(report['replaced'])}; "
            f"dropped: {_some(report['dropped'])}")
    train_set = training_set(cfg, say, datasets)
    model.to(device)
    memory_format = torch.channels_last if cfg.train.channels_last else torch.contiguous_format
    model.to(memory_format=memory_format)  # type: ignore[call-overload]
    aux = cfg.loss.aux_weight > 0 and getattr(model, "aux_classifier", None) is not None
    criterion, class_weights = build_loss(cfg, num_classes, train_set)
    criterion.to(device)
    optimizer = build_optimizer(model, cfg)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: poly_factor(s, cfg))
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    return Run(cfg, device, amp, memory_format, out_dir, train_set, val_samples, model, architecture, aux,
               criterion, class_weights, optimizer, scheduler, scaler)


def write_run_config(run: Run) -> Path:
    """Create the output folder and write the resolved ``config.yaml`` into it (atomically)."""
    path = make_folder(run.out_dir, OUTPUT_DIR) / "config.yaml"
    try:
        write_atomic(path, yaml.safe_dump(run.cfg.to_dict(), sort_keys=False).encode())
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}; choose another output.dir") from None
    return path


def training_device(setting: str) -> torch.device:
    """``train.device`` as a torch device; a GPU torch cannot see is an EngineUnavailableError."""
    try:
        return torch_device(resolve_device("torch", setting))
    except EngineUnavailableError as exc:
        raise EngineUnavailableError(f"train.device: {exc}") from None


def use_cache(cfg: TrainConfig, dataset: SegmentationDataset) -> str:
    """'memory', 'disk' or 'none'; 'auto' pre-renders synthetic data to disk and streams files."""
    mode = cfg.data.cache
    if mode != "auto":
        return mode
    synthetic = all(spec.startswith("synthetic://") for spec in cfg.data.train)
    return "disk" if synthetic else "none"


def training_set(cfg: TrainConfig, say: Say, opened: SegmentationDataset | None = None) -> SegmentationDataset:
    """``data.train`` (``opened`` if the caller opened it already), pre-rendered at the input size
    when ``use_cache`` says so."""
    train_set = opened if opened is not None else open_datasets(cfg.data.train)
    cache = use_cache(cfg, train_set)
    if cache == "none":
        return train_set
    from training.data.cache import prerender

    height, width = cfg.data.input_size
    started = time.monotonic()
    say(f"pre-rendering {len(train_set)} training samples at {height}x{width} ({cache}) ...")
    train_set = prerender(train_set, height, width, cache_dir=cfg.data.cache_dir if cache == "disk" else None,
                          workers=cfg.data.render_workers)
    say(f"training set ready: {len(train_set)} samples in {time.monotonic() - started:.1f} s")
    return train_set


def build_model(cfg: TrainConfig, num_classes: int) -> tuple[nn.Module, dict[str, Any]]:
    from engines.models import create_model

    kwargs = {k: v for k, v in cfg.model.kwargs.items() if k != "num_classes"}
    architecture = {"name": cfg.model.name, "kwargs": {"num_classes": num_classes, **kwargs}}
    try:
        model = create_model(cfg.model.name, num_classes=num_classes, **kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"model: cannot build {cfg.model.name!r} with kwargs {kwargs}: {exc}") from None
    return model, architecture


def build_loss(cfg: TrainConfig, num_classes: int, train_set: SegmentationDataset) -> tuple[SegmentationLoss, list[float] | None]:
    weights = cfg.loss.class_weights
    if weights == "auto":
        counts = np.zeros(num_classes, dtype=np.int64)
        parts = train_set.parts if isinstance(train_set, ConcatDataset) else [train_set]
        arrays = [labels for part in parts if (labels := getattr(part, "labels", None)) is not None]
        if len(arrays) == len(parts):  # pre-rendered: count them all
            for labels in arrays:
                for start in range(0, len(labels), 256):
                    counts += label_histogram(np.asarray(labels[start : start + 256]), num_classes)
        else:
            for index in spread_indices(len(train_set), 200):
                counts += label_histogram(train_set[index].labels, num_classes)
        weights = class_weights_from_counts(counts).tolist()
    elif weights is not None and len(weights) != num_classes:
        raise ConfigError(f"loss.class_weights has {len(weights)} values for {num_classes} classes")
    loss = SegmentationLoss(
        num_classes, ce_weight=cfg.loss.ce_weight, dice_weight=cfg.loss.dice_weight, class_weights=weights,
        ohem=cfg.loss.ohem, ohem_thresh=cfg.loss.ohem_thresh, ohem_min_kept=cfg.loss.ohem_min_kept,
        label_smoothing=cfg.loss.label_smoothing,
    )
    return loss, weights


def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """AdamW or SGD; norm and bias parameters without weight decay if ``optim.no_decay_norm_bias``."""
    o = cfg.optim
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for param in model.parameters():
        if not param.requires_grad:
            continue
        (no_decay if o.no_decay_norm_bias and param.ndim <= 1 else decay).append(param)
    groups = [{"params": decay, "weight_decay": o.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    groups = [g for g in groups if g["params"]]
    if o.name == "adamw":
        return torch.optim.AdamW(groups, lr=o.lr, betas=(o.betas[0], o.betas[1]))
    return torch.optim.SGD(groups, lr=o.lr, momentum=o.momentum, nesterov=o.nesterov)


def poly_factor(step: int, cfg: TrainConfig) -> float:
    """LR multiplier: linear warm-up from ``warmup_factor`` to 1, then poly decay to ``min_lr``."""
    s = cfg.schedule
    if step < s.warmup_steps:
        return s.warmup_factor + (1.0 - s.warmup_factor) * step / s.warmup_steps
    progress = min(1.0, (step - s.warmup_steps) / max(1, s.steps - s.warmup_steps))
    floor = min(1.0, s.min_lr / cfg.optim.lr)
    return floor + (1.0 - floor) * (1.0 - progress) ** s.power


def _some(keys: Sequence[str], shown: int = 4) -> str:
    """``keys`` for a log line: all of a few, else the count and the first ones."""
    if not keys:
        return "none"
    if len(keys) <= shown:
        return ", ".join(keys)
    return f"{len(keys)} ({', '.join(keys[:shown])}, ...)"
