"""Train a segmentation network.

    python -m training.train --config configs/train/lraspp.yaml [--set train.batch_size=4 ...] [--resume PATH]

What one step sees is what inference sees: each sample is resized with ``transforms.fit``
(stretch, area averaging), augmented jointly (``training.data.augment``: geometry on image and
mask together, colour on the image only) and normalised by ``transforms.to_input`` (RGB, ImageNet
mean/std). The loss is cross-entropy with ``ignore_index=255`` (optionally class-weighted, OHEM,
plus Dice); the optimiser is AdamW or SGD on a poly schedule with linear warm-up; AMP is used on
CUDA. Validation runs ``training.evaluate.evaluate_samples`` — the evaluator's own code — at the
labels' full resolution.

Batches are a pure function of (seed, step): sample order comes from a per-epoch permutation and
every sample's augmentation from its own generator seeded with (seed, step, slot). A resumed run
therefore continues with exactly the batches the uninterrupted run would have seen.

Outputs in ``output.dir``: ``last.pt`` (every ``ckpt_every`` steps and at the end), ``best.pt``
(best validation mIoU), ``metrics.jsonl`` (one JSON line per log and per validation),
``config.yaml`` (the resolved config) and, with ``output.export_onnx``, the ONNX model + sidecar.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from torch import nn

from engines.errors import EngineUnavailableError, ModelError
from engines.transforms import to_input
from segcore.accuracy import ConfusionMatrix
from segcore.errors import ConfigError, UserInputError
from training.checkpoint import load_init_weights, save_checkpoint
from training.config import TrainConfig, load_config
from training.data.augment import AugmentConfig, training_sample
from training.data.datasets import ConcatDataset, SegmentationDataset, Subset, open_datasets, spread_indices
from training.evaluate import Prepared, TorchPredictor, evaluate_samples, prepare, torch_input_spec
from training.losses import SegmentationLoss, class_weights_from_counts, label_histogram

# ------------------------------------------------------------------------------------------ batches


class StepBatches(torch.utils.data.Dataset):  # type: ignore[type-arg]
    """Item ``s`` is the whole batch of step ``s``: (B×3×h×w float32 input, B×h×w uint8 labels)."""

    def __init__(self, source: SegmentationDataset, cfg: TrainConfig) -> None:
        self.source = source
        self.height, self.width = cfg.data.input_size
        self.batch = cfg.train.batch_size
        self.seed = cfg.train.seed
        self.steps = cfg.schedule.steps
        a = cfg.augment
        self.augment = AugmentConfig(
            enabled=a.enabled, scale=(a.scale[0], a.scale[1]), hflip=a.hflip, brightness=a.brightness,
            contrast=a.contrast, saturation=a.saturation, hue=a.hue, blur=a.blur, noise=a.noise,
            crop=None if a.crop is None else (a.crop[0], a.crop[1]),
        )
        self.spec = torch_input_spec(self.height, self.width)
        self._perms: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return self.steps

    def indices(self, step: int) -> list[int]:
        n = len(self.source)
        out = []
        for position in range(step * self.batch, (step + 1) * self.batch):
            epoch, offset = divmod(position, n)
            if epoch not in self._perms:
                if len(self._perms) > 4:
                    self._perms.pop(min(self._perms))
                self._perms[epoch] = np.random.default_rng([self.seed, epoch, 0x5E6]).permutation(n)
            out.append(int(self._perms[epoch][offset]))
        return out

    def __getitem__(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        images, labels = [], []
        for slot, index in enumerate(self.indices(step)):
            rng = np.random.default_rng([self.seed, step, slot])
            sample = self.source[index]
            image, label = training_sample(sample.image, sample.labels, self.height, self.width, self.augment, rng)
            images.append(image)
            labels.append(label)
        return torch.from_numpy(to_input(images, self.spec)), torch.from_numpy(np.stack(labels))


# ------------------------------------------------------------------------------------------ pieces


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise EngineUnavailableError("train.device is cuda but torch sees no CUDA GPU; set train.device: cpu")
    return torch.device(name)


def use_cache(cfg: TrainConfig, dataset: SegmentationDataset) -> str:
    """'memory', 'disk' or 'none'; 'auto' pre-renders synthetic data to disk and streams files."""
    mode = cfg.data.cache
    if mode != "auto":
        return mode
    synthetic = all(spec.startswith("synthetic://") for spec in cfg.data.train)
    return "disk" if synthetic else "none"


def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
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


def build_model(cfg: TrainConfig, num_classes: int) -> tuple[nn.Module, dict[str, Any]]:
    from engines.models import create_model

    kwargs = {k: v for k, v in cfg.model.kwargs.items() if k != "num_classes"}
    architecture = {"name": cfg.model.name, "kwargs": {"num_classes": num_classes, **kwargs}}
    try:
        model = create_model(cfg.model.name, num_classes=num_classes, **kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"model: cannot build {cfg.model.name!r} with kwargs {kwargs}: {exc}") from None
    return model, architecture


@dataclass
class TrainResult:
    step: int
    best_miou: float | None
    last_miou: float | None
    last_checkpoint: Path
    best_checkpoint: Path | None
    losses: list[float] = field(default_factory=list)  # mean loss of each log interval
    onnx: Path | None = None


def _some(keys: Sequence[str], shown: int = 4) -> str:
    """``keys`` for a log line: all of a few, else the count and the first ones."""
    if not keys:
        return "none"
    if len(keys) <= shown:
        return ", ".join(keys)
    return f"{len(keys)} ({', '.join(keys[:shown])}, ...)"


def _log(path: Path, record: dict[str, Any]) -> None:
    with path.open("a") as fh:
        fh.write(json.dumps(record) + "\n")


# ------------------------------------------------------------------------------------------- train


def train(
    cfg: TrainConfig,
    *,
    resume: str | Path | None = None,
    progress: bool | None = False,
    log: Callable[[str], None] | None = None,
    stop_after: int | None = None,
) -> TrainResult:
    """Run the training ``cfg`` describes (resuming from ``resume`` if given); returns a summary.

    ``progress``: show a tqdm bar on stderr (None: only on a terminal). ``log`` receives one-line
    messages (data preparation, validations, and the loss lines when no bar is shown); the library
    itself prints nothing. ``stop_after`` ends the run after that step (a checkpoint is written
    there) while keeping the schedule of the full ``schedule.steps``, so a later ``resume``
    continues the same run.
    """
    device = resolve_device(cfg.train.device)
    if cfg.train.threads > 0:
        torch.set_num_threads(cfg.train.threads)
    torch.manual_seed(cfg.train.seed)
    if cfg.train.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
    amp = device.type == "cuda" if cfg.train.amp == "auto" else cfg.train.amp == "true"
    if amp and device.type != "cuda":
        raise ConfigError("train.amp: true needs a CUDA device; use amp: auto or false on the CPU")
    out_dir = Path(cfg.output.dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    log_path = out_dir / "metrics.jsonl"
    height, width = cfg.data.input_size

    from tqdm import tqdm

    say: Callable[[str], None] = log or (lambda message: None)
    train_set = open_datasets(cfg.data.train)
    cache = use_cache(cfg, train_set)
    if cache != "none":
        from training.data.cache import prerender

        started = time.monotonic()
        say(f"pre-rendering {len(train_set)} training samples at {height}x{width} ({cache}) ...")
        train_set = prerender(train_set, height, width, cache_dir=cfg.data.cache_dir if cache == "disk" else None,
                              workers=cfg.data.render_workers)
        say(f"training set ready: {len(train_set)} samples in {time.monotonic() - started:.1f} s")
    num_classes = train_set.num_classes
    val_samples: list[Prepared] = []
    if cfg.data.val:
        val_set = open_datasets(cfg.data.val)
        if val_set.class_names != train_set.class_names:
            raise ConfigError(f"data.val ({val_set.spec}) has other classes than data.train ({train_set.spec})")
        val_set = Subset(val_set, spread_indices(len(val_set), cfg.data.val_num or None))
        spec = torch_input_spec(height, width)
        val_samples = [prepare(val_set[i], spec) for i in range(len(val_set))]

    model, architecture = build_model(cfg, num_classes)
    if cfg.model.init_checkpoint and resume is None:
        report = load_init_weights(model, cfg.model.init_checkpoint)
        say(f"initialised from {cfg.model.init_checkpoint}; fresh head tensors: {_some(report['replaced'])}; "
            f"dropped: {_some(report['dropped'])}")
    model.to(device)
    memory_format = torch.channels_last if cfg.train.channels_last else torch.contiguous_format
    model.to(memory_format=memory_format)  # type: ignore[call-overload]
    aux = cfg.loss.aux_weight > 0 and getattr(model, "aux_classifier", None) is not None
    criterion, class_weights = build_loss(cfg, num_classes, train_set)
    criterion.to(device)
    optimizer = build_optimizer(model, cfg)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: poly_factor(s, cfg))
    scaler = torch.amp.GradScaler("cuda", enabled=amp)

    step, best_miou, last_miou = 0, None, None
    if resume is not None:
        from engines.checkpoints import read_checkpoint

        state = read_checkpoint(resume)
        if state.get("architecture") != architecture:
            raise ModelError(f"--resume {resume} was trained as {state.get('architecture')}, the config builds {architecture}")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        step, best_miou, last_miou = int(state["step"]), state.get("best_miou"), state.get("val_miou")
        rng = state.get("rng") or {}
        if "torch" in rng:
            torch.set_rng_state(rng["torch"])
        if rng.get("cuda") and device.type == "cuda":
            torch.cuda.set_rng_state_all(rng["cuda"])
        say(f"resumed from {resume} at step {step}")
    if step >= cfg.schedule.steps:
        say(f"nothing to do: step {step} >= schedule.steps {cfg.schedule.steps}")

    def payload(val_miou: float | None) -> dict[str, Any]:
        return {
            "model": model.state_dict(), "architecture": architecture, "input_size": [height, width],
            "resize": "stretch", "class_names": list(train_set.class_names),
            "palette": [list(c) for c in train_set.palette], "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict() if amp else None,
            "step": step, "epoch": step * cfg.train.batch_size / len(train_set), "best_miou": best_miou,
            "val_miou": val_miou, "train_config": cfg.to_dict(), "class_weights": class_weights,
            "rng": {"torch": torch.get_rng_state(),
                    "cuda": torch.cuda.get_rng_state_all() if device.type == "cuda" else []},
        }

    def validate() -> tuple[float | None, float | None]:
        if not val_samples:
            return None, None
        predictor = TorchPredictor(model, torch_input_spec(height, width), num_classes, device=str(device), amp=amp)
        outcome = evaluate_samples(predictor, val_samples, batch_size=cfg.train.val_batch_size)
        matrix: ConfusionMatrix = outcome.matrix
        miou, acc = matrix.miou(), matrix.pixel_accuracy()
        return (None if math.isnan(miou) else miou), (None if math.isnan(acc) else acc)

    batches = StepBatches(train_set, cfg)
    end = cfg.schedule.steps if stop_after is None else max(step, min(stop_after, cfg.schedule.steps))
    loader = torch.utils.data.DataLoader(
        batches, batch_size=None, sampler=range(step, end), num_workers=cfg.data.num_workers,
        pin_memory=device.type == "cuda", persistent_workers=False,
    )
    best_path, last_path = out_dir / "best.pt", out_dir / "last.pt"
    losses: list[float] = []
    running, count = torch.zeros((), device=device), 0  # summed on the device: no sync every step
    bar = tqdm(total=cfg.schedule.steps, initial=step, disable={None: None, True: False, False: True}[progress],
               dynamic_ncols=True, desc="train", leave=True)
    started = time.monotonic()
    model.train()
    for inputs, labels in loader:
        inputs = inputs.to(device, non_blocking=True).contiguous(memory_format=memory_format)
        labels = labels.to(device, non_blocking=True).long()
        with torch.autocast(device.type, dtype=torch.float16, enabled=amp):
            if aux:
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
        scheduler.step()
        step += 1
        running += loss.detach()
        count += 1
        bar.update(1)
        if step % cfg.train.log_every == 0 or step == cfg.schedule.steps:
            mean_loss = running.item() / count
            if not math.isfinite(mean_loss):
                raise FloatingPointError(f"the loss became {mean_loss} before step {step}; lower optim.lr or check the labels")
            losses.append(mean_loss)
            running.zero_()
            count = 0
            lr = optimizer.param_groups[0]["lr"]
            bar.set_postfix(loss=f"{mean_loss:.4f}", lr=f"{lr:.2e}",
                            miou="-" if last_miou is None else f"{last_miou:.3f}", refresh=False)
            _log(log_path, {"step": step, "loss": mean_loss, "lr": lr, "seconds": round(time.monotonic() - started, 1)})
            if bar.disable:
                say(f"step {step}/{cfg.schedule.steps} loss {mean_loss:.4f} lr {lr:.2e}")
        validated = False
        if val_samples and (step % cfg.train.val_every == 0 or step == cfg.schedule.steps):
            last_miou, acc = validate()
            validated = True
            _log(log_path, {"step": step, "val_miou": last_miou, "val_pixel_accuracy": acc})
            improved = last_miou is not None and (best_miou is None or last_miou > best_miou)
            if improved:
                best_miou = last_miou
                save_checkpoint(payload(last_miou), best_path)
            say(f"step {step}: val mIoU {last_miou:.4f} (best {best_miou:.4f})" if last_miou is not None else
                f"step {step}: validation counted no pixels")
        if step % cfg.train.ckpt_every == 0 or step in (cfg.schedule.steps, end):
            save_checkpoint(payload(last_miou if validated else None), last_path)
    bar.close()
    if not last_path.exists():
        save_checkpoint(payload(None), last_path)
    result = TrainResult(step, best_miou, last_miou, last_path, best_path if best_path.exists() else None, losses)
    if cfg.output.export_onnx:
        result.onnx = export_trained(result, cfg)
        say(f"exported {result.onnx}")
    return result


def export_trained(result: TrainResult, cfg: TrainConfig) -> Path:
    """Export the best (else the last) checkpoint with ``engines.models.export.export_onnx``."""
    from engines.checkpoints import load_checkpoint
    from engines.models.export import ExportOptions, export_onnx

    path = result.best_checkpoint or result.last_checkpoint
    loaded = load_checkpoint(path)
    height, width = cfg.data.input_size
    options = ExportOptions(input_size=(height, width), uint8_input=cfg.output.export_uint8_input,
                            argmax=cfg.output.export_argmax, dynamic_batch=True,
                            dynamic_size=cfg.output.export_dynamic_size)
    exported = export_onnx(
        loaded.model, Path(cfg.output.dir), name=cfg.output.export_name, architecture=loaded.architecture,
        class_names=loaded.class_names, palette=loaded.palette, options=options,
        provenance={"checkpoint": path.name, **loaded.provenance}, metrics=loaded.metrics,
    )
    return Path(exported.onnx_path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.train", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="training YAML, e.g. configs/train/lraspp.yaml")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key, e.g. --set schedule.steps=500 (repeatable)")
    parser.add_argument("--resume", default=None, help="continue from a checkpoint (e.g. runs/x/last.pt)")
    args = parser.parse_args(argv)
    try:
        cfg = load_config(args.config, args.set)
        from tqdm import tqdm

        result = train(cfg, resume=args.resume, progress=None, log=tqdm.write)
    except (UserInputError, EngineUnavailableError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; resume with --resume on the last checkpoint", file=sys.stderr)
        return 130
    best = "n/a" if result.best_miou is None else f"{result.best_miou:.4f}"
    print(f"done: {result.step} steps, best val mIoU {best}, checkpoints in {cfg.output.dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
