"""Writing training checkpoints atomically, and initialising a network from local weights.

Reading a checkpoint back for inference or export is ``engines.checkpoints.load_checkpoint``
(``weights_only=True``). The trainer's checkpoint is a plain dict::

    format        "segstream-checkpoint/1"
    model         state dict of the network
    architecture  {"name": registered model name, "kwargs": {"num_classes": K, ...}}
                  → engines.models.create_model(name, **kwargs) rebuilds it
    input_size    [height, width] the network was trained at (stretch resize, ImageNet mean/std, RGB)
    class_names   [K names]            palette  [[R, G, B] × K]
    optimizer, scheduler, scaler       state dicts, for resuming
    step          optimisation steps done;  epoch: passes over the training set (float)
    best_miou     best validation mIoU so far;  val_miou: this checkpoint's (None if not validated)
    train_config  the full training config as plain data
    rng           {"torch": ByteTensor, "cuda": [ByteTensor, ...]} for an exact resume

Writes are atomic: the file is written beside its destination and renamed over it, so a run killed
mid-save leaves the previous checkpoint intact.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from engines.errors import ModelError

FORMAT = "segstream-checkpoint/1"
HEAD_PREFIXES = ("classifier.", "aux_classifier.")


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
