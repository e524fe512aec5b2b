"""The training configuration: frozen dataclasses, one per YAML section; validation; ``--set`` overrides.

``configs/train/*.yaml`` documents every key; the defaults here are the built-in ones. Loading,
type checks, "did you mean" hints for unknown keys and overrides are ``segcore.typed_yaml``'s;
this schema owns every choice (a ``Literal`` type: ``CacheMode``, ``Optimizer``, ``AmpMode``) and
range (field metadata), checked exactly (``optim.name: AdamW`` is refused, not read as SGD);
every number has a range no legitimate run exceeds, and NaN or an infinity is never inside one.
``validate`` adds the checks that span several keys, and the model's arguments against the
builder's own ranges (``engines.models.arguments``), all before anything is written or rendered.
Nothing changes a config after it is loaded.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from engines.devices import parse_device
from segcore.errors import ConfigError
from segcore.typed_values import BOOL_AS_TEXT, check_value, limits
from segcore.typed_yaml import Places, Schema

CacheMode = Literal["auto", "memory", "disk", "none"]  # auto: disk for synthetic data, else none
Optimizer = Literal["adamw", "sgd"]
AmpMode = Literal["auto", "true", "false"]  # auto: on CUDA only

# Ranges no legitimate run exceeds (configs/train/lraspp.yaml writes each one down):
MIN_SIDE, MAX_SIDE = 8, 8192  # an input or crop side, in pixels
MAX_STEPS = 100_000_000  # weeks at 50 steps a second
MAX_BATCH = 4096  # frames per step or validation pass
MAX_SAMPLES = 100_000_000  # validation samples
MAX_CLASS_WEIGHT = 1e6


@dataclass(frozen=True)
class ModelSection:
    name: str = "lraspp_mobilenet_v3_large"
    kwargs: dict[str, Any] = field(default_factory=dict)
    init_checkpoint: str | None = None


@dataclass(frozen=True)
class DataSection:
    train: list[str] = field(default_factory=lambda: ["synthetic://street?seeds=0-7&frames=48&every=4"])
    val: list[str] = field(default_factory=list)
    input_size: list[int] = field(default_factory=lambda: [256, 512], metadata=limits(low=MIN_SIDE, high=MAX_SIDE))
    cache: CacheMode = "auto"
    cache_dir: str = "runs/cache"
    # processes: more than a few per core only compete for the cores and the memory
    render_workers: int = field(default=2, metadata=limits(low=0, per_core=4))
    val_num: int = field(default=0, metadata=limits(low=0, high=MAX_SAMPLES))
    num_workers: int = field(default=0, metadata=limits(low=0, per_core=4))


@dataclass(frozen=True)
class AugmentSection:
    enabled: bool = True
    # zoom range [low, high]; beyond 8x a sample is a few pixels blown up, or a speck in padding
    scale: list[float] = field(default_factory=lambda: [0.75, 1.5], metadata=limits(above=0.0, high=8.0))
    hflip: float = field(default=0.5, metadata=limits(low=0.0, high=1.0))  # probability of a horizontal flip
    brightness: float = field(default=0.25, metadata=limits(low=0.0, high=1.0))  # ± fraction added (of 255)
    contrast: float = field(default=0.25, metadata=limits(low=0.0, high=1.0))  # ± fraction of contrast change
    saturation: float = field(default=0.25, metadata=limits(low=0.0, high=1.0))  # ± fraction of saturation change
    hue: float = field(default=0.02, metadata=limits(low=0.0, high=0.5))  # ± fraction of the hue circle (half: any hue)
    blur: float = field(default=0.1, metadata=limits(low=0.0, high=1.0))  # probability of a light Gaussian blur
    # std of pixel noise in 0..255 units, p = 0.5; 64 already buries the picture
    noise: float = field(default=3.0, metadata=limits(low=0.0, high=64.0))
    # [height, width] window of the model-size sample; null = all of it
    crop: list[int] | None = field(default=None, metadata=limits(low=MIN_SIDE, high=MAX_SIDE))


@dataclass(frozen=True)
class OptimSection:
    name: Optimizer = "adamw"
    lr: float = field(default=2e-3, metadata=limits(above=0.0, high=10.0))  # 10: far past any stable rate
    weight_decay: float = field(default=1e-4, metadata=limits(low=0.0, high=1.0))
    momentum: float = field(default=0.9, metadata=limits(low=0.0, below=1.0))  # 1 never forgets: diverges
    nesterov: bool = False
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999], metadata=limits(low=0.0, below=1.0))
    no_decay_norm_bias: bool = True


@dataclass(frozen=True)
class ScheduleSection:
    steps: int = field(default=3000, metadata=limits(low=1, high=MAX_STEPS))
    warmup_steps: int = field(default=100, metadata=limits(low=0, high=MAX_STEPS))  # and < steps
    warmup_factor: float = field(default=0.01, metadata=limits(low=0.0, high=1.0))
    power: float = field(default=0.9, metadata=limits(low=0.0, high=10.0))  # 0 = constant after warm-up
    min_lr: float = field(default=1e-6, metadata=limits(low=0.0, high=10.0))


@dataclass(frozen=True)
class LossSection:
    ce_weight: float = field(default=1.0, metadata=limits(low=0.0, high=100.0))  # with dice_weight: > 0 together
    dice_weight: float = field(default=0.0, metadata=limits(low=0.0, high=100.0))
    class_weights: Any = None  # null | "auto" | [K numbers in 0..10^6]
    ohem: bool = False
    ohem_thresh: float = field(default=0.7, metadata=limits(above=0.0, high=1.0))  # a probability
    ohem_min_kept: int = field(default=100_000, metadata=limits(low=0, high=10**9))  # pixels per batch
    label_smoothing: float = field(default=0.0, metadata=limits(low=0.0, high=1.0))
    aux_weight: float = field(default=0.4, metadata=limits(low=0.0, high=100.0))


@dataclass(frozen=True)
class TrainSection:
    batch_size: int = field(default=8, metadata=limits(low=1, high=MAX_BATCH))
    device: str = "auto"  # auto | cpu | cuda | cuda:N (engines.devices)
    threads: int = field(default=0, metadata=limits(low=0, per_core=4))  # more than the cores only oversubscribe
    amp: AmpMode = field(default="auto", metadata=BOOL_AS_TEXT)  # YAML true → "true"
    channels_last: bool = True  # NHWC memory format: ~1.5x faster steps on CPU (oneDNN), also good on CUDA
    seed: int = field(default=0, metadata=limits(low=0, high=2**32 - 1))  # NumPy's seeds are non-negative
    deterministic: bool = False
    grad_clip: float = field(default=0.0, metadata=limits(low=0.0, high=1e6))  # max gradient norm; 0 = off
    log_every: int = field(default=20, metadata=limits(low=1, high=MAX_STEPS))
    val_every: int = field(default=500, metadata=limits(low=1, high=MAX_STEPS))
    ckpt_every: int = field(default=250, metadata=limits(low=1, high=MAX_STEPS))
    val_batch_size: int = field(default=4, metadata=limits(low=1, high=MAX_BATCH))


@dataclass(frozen=True)
class OutputSection:
    dir: str = "runs/train"
    export_onnx: bool = False
    export_name: str = "model"
    export_uint8_input: bool = True
    export_argmax: bool = True
    export_dynamic_size: bool = False


@dataclass(frozen=True)
class TrainConfig:
    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    augment: AugmentSection = field(default_factory=AugmentSection)
    optim: OptimSection = field(default_factory=OptimSection)
    schedule: ScheduleSection = field(default_factory=ScheduleSection)
    loss: LossSection = field(default_factory=LossSection)
    train: TrainSection = field(default_factory=TrainSection)
    output: OutputSection = field(default_factory=OutputSection)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)



def validate(cfg: TrainConfig, where: str | Places) -> None:
    """Checks that span keys (types, choices and ranges are the schema's); ``where`` names each key's origin."""
    at = where if isinstance(where, Places) else Places(where)
    parse_device(cfg.train.device, key="train.device", where=at)
    lo, hi = (cfg.augment.scale + [0.0, 0.0])[:2]
    if len(cfg.augment.scale) != 2 or not 0 < lo <= hi:
        raise ConfigError(f"{at('augment.scale')}: augment.scale must be [low, high] with 0 < low <= high, "
                          f"got {cfg.augment.scale}")
    if len(cfg.data.input_size) != 2:  # each side's range is the schema's
        raise ConfigError(f"{at('data.input_size')}: data.input_size must be [height, width], got {cfg.data.input_size}")
    crop = cfg.augment.crop
    if crop is not None and (len(crop) != 2 or crop[0] > cfg.data.input_size[0] or crop[1] > cfg.data.input_size[1]):
        raise ConfigError(f"{at('augment.crop')}: augment.crop must be null or [height, width] within "
                          f"data.input_size {cfg.data.input_size}, got {crop}")
    if not cfg.data.train:
        raise ConfigError(f"{at('data.train')}: data.train names no dataset")
    if cfg.schedule.warmup_steps >= cfg.schedule.steps:
        raise ConfigError(f"{at('schedule.warmup_steps')}: schedule.warmup_steps must be in 0..steps-1, got {cfg.schedule.warmup_steps}")
    if cfg.loss.ce_weight + cfg.loss.dice_weight <= 0:
        raise ConfigError(f"{at('loss.dice_weight')}: loss.ce_weight and loss.dice_weight are both 0; "
                          "give one of them a positive weight")
    if cfg.optim.name == "sgd" and cfg.optim.nesterov and cfg.optim.momentum == 0:
        raise ConfigError(f"{at('optim.nesterov')}: optim.nesterov needs a positive optim.momentum")
    _check_class_weights(cfg.loss.class_weights, at)
    _check_model(cfg.model, at)


def _check_class_weights(weights: Any, at: Places) -> None:
    if weights is None or weights == "auto":
        return
    if not (isinstance(weights, list) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in weights)):
        raise ConfigError(f"{at('loss.class_weights')}: loss.class_weights must be null, 'auto' or a list of numbers, "
                          f"got {weights!r}")
    check_value([float(v) for v in weights], list[float], "loss.class_weights", at, limits(low=0.0, high=MAX_CLASS_WEIGHT))


def _check_model(model: ModelSection, at: Places) -> None:
    """``model.name`` and ``model.kwargs`` against the builder's arguments and ranges, before any data
    is rendered: a ``depth: 99`` U-Net is refused here instead of allocating until memory runs out."""
    # engines.models imports torch, which the trainer imports anyway
    from engines.models import ModelArgumentError, check_model, list_models

    try:
        check_model(model.name, {k: v for k, v in model.kwargs.items() if k != "num_classes"})
    except ModelArgumentError as exc:
        if exc.argument is None:
            raise ConfigError(f"{at('model.name')}: model.name is {model.name!r}; allowed values: "
                              f"{', '.join(list_models())}") from None
        raise ConfigError(f"{at(f'model.kwargs.{exc.argument}')}: model.kwargs.{exc.item} {exc.problem} "
                          f"({exc.model})") from None


def load_config(path: str | Path | None, overrides: Sequence[str] = ()) -> TrainConfig:
    """Defaults ← YAML file ``path`` ← ``overrides`` ("section.key=value"), checked."""
    return SCHEMA.load(path, overrides)


SCHEMA = Schema(TrainConfig, check=validate, what="training config", example="train.batch_size=4", suggest="name")
