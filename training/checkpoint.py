"""Training checkpoints: what one holds, writing it atomically, resuming from it, and initialising
a network from local weights.

Reading a checkpoint back for inference or export is ``engines.checkpoints.load_checkpoint``
(``weights_only=True``). The trainer's checkpoint (``checkpoint_payload``) is a plain dict::

    format        "segstream-checkpoint/1"
    model         state dict of the network
    architecture  {"name": registered model name, "kwargs": {"num_classes": K, ...}}
                  → engines.models.create_model(name, **kwargs) rebuilds it
    input_size    [height, width] the network was trained at (ImageNet mean/std, RGB)
    resize        "stretch": how every sample was fitted to input_size
    class_names   [K names]            palette  [[R, G, B] × K]
    optimizer, scheduler, scaler       state dicts, for resuming
    step          optimisation steps done;  epoch: passes over the training set (float)
    best_miou     best validation mIoU so far;  val_miou: this checkpoint's (None if not validated)
    train_config  the full training config as plain data;  class_weights: the loss's, if any
    rng           {"torch": ByteTensor, "cuda": [ByteTensor, ...]} for an exact resume

Writes are atomic: the file is written beside its destination and renamed over it, so a run killed
mid-save leaves the previous checkpoint intact.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from engines.errors import ModelError

if TYPE_CHECKING:
    from training.setup import Run

FORMAT = "segstream-checkpoint/1"
HEAD_PREFIXES = ("classifier.", "aux_classifier.")


@dataclass
class Progress:
    """Where a run stands: optimisation steps done, the best and the latest validation mIoU."""

    step: int = 0
    best_miou: float | None = None
    last_miou: float | None = None


def checkpoint_payload(run: Run, progress: Progress, val_miou: float | None) -> dict[str, Any]:
    """The checkpoint of ``run`` now; ``val_miou`` is this checkpoint's own validation (None: none)."""
    cfg = run.cfg
    height, width = cfg.data.input_size
    return {
        "model": run.model.state_dict(), "architecture": run.architecture, "input_size": [height, width],
        "resize": "stretch", "class_names": list(run.train_set.class_names),
        "palette": [list(c) for c in run.train_set.palette], "optimizer": run.optimizer.state_dict(),
        "scheduler": run.scheduler.state_dict(), "scaler": run.scaler.state_dict() if run.amp else None,
        "step": progress.step, "epoch": progress.step * cfg.train.batch_size / len(run.train_set),
        "best_miou": progress.best_miou, "val_miou": val_miou, "train_config": cfg.to_dict(),
        "class_weights": run.class_weights,
        "rng": {"torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if run.device.type == "cuda" else []},
    }


def resume_from(run: Run, path: str | Path, say: Callable[[str], None]) -> Progress:
    """Load the state ``path`` saved into ``run`` (weights, optimiser, schedule, scaler, random state)."""
    from engines.checkpoints import read_checkpoint

    state = read_checkpoint(path)
    if state.get("architecture") != run.architecture:
        raise ModelError(f"--resume {path} was trained as {state.get('architecture')}, the config builds {run.architecture}")
    saved_optimizer = ((state.get("train_config") or {}).get("optim") or {}).get("name")
    if saved_optimizer is not None and saved_optimizer != run.cfg.optim.name:  # torch would load it silently
        raise ModelError(f"--resume {path} was trained with optim.name={saved_optimizer}, the config has "
                         f"optim.name={run.cfg.optim.name}; set optim.name: {saved_optimizer} to resume it")
    parts = [("model", run.model), ("optimizer", run.optimizer), ("scheduler", run.scheduler)]
    if state.get("scaler"):
        parts.append(("scaler", run.scaler))
    for name, part in parts:
        try:
            part.load_state_dict(state[name])
        except (KeyError, ValueError, RuntimeError, TypeError) as exc:  # saved by another config
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(
                f"--resume {path}: its {name} state does not fit this config ({first}); resume with the "
                "config it was trained with (the checkpoint keeps it as train_config), or train without --resume"
            ) from None
    progress = Progress(int(state["step"]), state.get("best_miou"), state.get("val_miou"))
    rng = state.get("rng") or {}
    if "torch" in rng:
        torch.set_rng_state(rng["torch"])
    if rng.get("cuda") and run.device.type == "cuda":
        torch.cuda.set_rng_state_all(rng["cuda"])
    say(f"resumed from {path} at step {progress.step}")
    return progress


def save_checkpoint(payload: Mapping[str, Any], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        torch.save({"format": FORMAT, **payload}, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def load_init_weights(
    model: nn.Module, path: str | Path, *, head_prefixes: Sequence[str] = HEAD_PREFIXES
) -> dict[str, list[str]]:
    """Initialise ``model`` from a local state dict (torchvision layout, or a segstream checkpoint).

    Read with ``weights_only=True``. The backbone's keys must match exactly; the head
    (``head_prefixes``) may differ, for fine-tuning to another label set or another head: head
    tensors the file lacks or holds in another shape (a different class count, an LR-ASPP file for
    a DeepLabv3 model) keep their fresh initialisation, and head keys the model does not have
    (torchvision's ``aux_classifier.*`` when training without the auxiliary loss, the other head's
    layers) are dropped. Anything else that differs is a ModelError naming the keys. Returns the
    replaced (freshly initialised) and dropped keys.
    """
    from engines.checkpoints import read_checkpoint

    data: Any = read_checkpoint(path)
    if "model" in data and isinstance(data["model"], Mapping):
        data = data["model"]
    elif "state_dict" in data and isinstance(data["state_dict"], Mapping):
        data = data["state_dict"]
    if not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise ModelError(f"init_checkpoint {path} is not a state dict of tensors")
    own = model.state_dict()
    prefixes = tuple(head_prefixes)
    missing = [k for k in own if k not in data and not k.startswith(prefixes)]
    unexpected = [k for k in data if k not in own and not k.startswith(prefixes)]
    dropped = [k for k in data if k not in own and k.startswith(prefixes)]
    mismatched = [k for k in own if k in data and tuple(data[k].shape) != tuple(own[k].shape)]
    replaced = [k for k in own if k.startswith(prefixes) and (k not in data or k in mismatched)]
    mismatched = [k for k in mismatched if not k.startswith(prefixes)]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing key(s), e.g. {missing[:3]}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected key(s), e.g. {unexpected[:3]}")
    if mismatched:
        problems.append("shape mismatch in " + ", ".join(
            f"{k} {tuple(data[k].shape)} vs {tuple(own[k].shape)}" for k in mismatched[:3]))
    if problems:
        raise ModelError(f"init_checkpoint {path} does not fit this model: {'; '.join(problems)}")
    state = {k: (own[k] if k in replaced else data[k]) for k in own}
    model.load_state_dict(state, strict=True)
    return {"replaced": replaced, "dropped": dropped}
