"""The training configuration: one dataclass per YAML section, with validation and ``--set`` overrides.

``configs/train/*.yaml`` documents every key; the defaults here are the built-in ones. Unknown
keys are errors with a "did you mean" hint, and so are values of the wrong type.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import yaml

from engines.errors import ConfigError


@dataclass
class ModelSection:
    name: str = "lraspp_mobilenet_v3_large"
    kwargs: dict[str, Any] = field(default_factory=dict)
    init_checkpoint: str | None = None


@dataclass
class DataSection:
    train: list[str] = field(default_factory=lambda: ["synthetic://street?seeds=0-7&frames=48&every=4"])
    val: list[str] = field(default_factory=list)
    input_size: list[int] = field(default_factory=lambda: [256, 512])
    cache: str = "auto"
    cache_dir: str = "runs/cache"
    render_workers: int = 2
    val_num: int = 0
    num_workers: int = 0


@dataclass
class AugmentSection:
    enabled: bool = True
    scale: list[float] = field(default_factory=lambda: [0.75, 1.5])
    hflip: float = 0.5
    brightness: float = 0.25
    contrast: float = 0.25
    saturation: float = 0.25
    hue: float = 0.02
    blur: float = 0.1
    noise: float = 3.0


@dataclass
class OptimSection:
    name: str = "adamw"
    lr: float = 2e-3
    weight_decay: float = 1e-4
    momentum: float = 0.9
    nesterov: bool = False
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    no_decay_norm_bias: bool = True


@dataclass
class ScheduleSection:
    steps: int = 3000
    warmup_steps: int = 100
    warmup_factor: float = 0.01
    power: float = 0.9
    min_lr: float = 1e-6


@dataclass
class LossSection:
    ce_weight: float = 1.0
    dice_weight: float = 0.0
    class_weights: Any = None
    ohem: bool = False
    ohem_thresh: float = 0.7
    ohem_min_kept: int = 100_000
    label_smoothing: float = 0.0
    aux_weight: float = 0.4


@dataclass
class TrainSection:
    batch_size: int = 8
    device: str = "auto"
    threads: int = 0
    amp: str = "auto"
    seed: int = 0
    deterministic: bool = False
    grad_clip: float = 0.0
    log_every: int = 20
    val_every: int = 500
    ckpt_every: int = 250
    val_batch_size: int = 4


@dataclass
class OutputSection:
    dir: str = "runs/train"
    export_onnx: bool = False
    export_name: str = "model"
    export_uint8_input: bool = True
    export_argmax: bool = True
    export_dynamic_size: bool = False


@dataclass
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

    @classmethod
    def from_dict(cls, data: Any, where: str = "config") -> TrainConfig:
        config = _build(cls, data, where)
        validate(config, where)
        return config


CHOICES = {
    "data.cache": ("auto", "memory", "disk", "none"),
    "optim.name": ("adamw", "sgd"),
    "train.device": ("auto", "cpu", "cuda"),
    "train.amp": ("auto", "true", "false"),
}


def validate(cfg: TrainConfig, where: str) -> None:
    for key, allowed in CHOICES.items():
        section, name = key.split(".")
        value = getattr(getattr(cfg, section), name)
        if key == "train.device" and isinstance(value, str) and value.startswith("cuda:"):
            continue
        if str(value).lower() not in allowed:
            raise ConfigError(f"{where}: {key} is {value!r}; expected one of {', '.join(allowed)}")
    if len(cfg.data.input_size) != 2 or min(cfg.data.input_size) < 8:
        raise ConfigError(f"{where}: data.input_size must be [height, width] of at least 8, got {cfg.data.input_size}")
    if not cfg.data.train:
        raise ConfigError(f"{where}: data.train names no dataset")
    positive = {"schedule.steps": cfg.schedule.steps, "train.batch_size": cfg.train.batch_size,
                "optim.lr": cfg.optim.lr, "train.val_batch_size": cfg.train.val_batch_size}
    for key, value in positive.items():
        if value <= 0:
            raise ConfigError(f"{where}: {key} must be positive, got {value}")
    if cfg.schedule.warmup_steps < 0 or cfg.schedule.warmup_steps >= cfg.schedule.steps:
        raise ConfigError(f"{where}: schedule.warmup_steps must be in 0..steps-1, got {cfg.schedule.warmup_steps}")
    cw = cfg.loss.class_weights
    if not (cw is None or cw == "auto" or (isinstance(cw, list) and all(isinstance(v, (int, float)) for v in cw))):
        raise ConfigError(f"{where}: loss.class_weights must be null, 'auto' or a list of numbers, got {cw!r}")


def _strip_optional(tp: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return (args[0] if len(args) == 1 else Any), len(args) < len(typing.get_args(tp))
    return tp, False


def _build(cls: type, data: Any, where: str, path: str = "") -> Any:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: {path or 'the top level'} must be a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    for key in data:
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(names)}"
            raise ConfigError(f"{where}: unknown key {path}{key!r}{hint}")
    kwargs = {name: _convert(hints[name], data[name], where, f"{path}{name}") for name in names if name in data}
    return cls(**kwargs)


def _convert(tp: Any, value: Any, where: str, key: str) -> Any:
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _build(tp, value, where, f"{key}.")
    tp, optional = _strip_optional(tp)
    bad = f"{where}: {key}"
    if value is None:
        if optional or tp is Any:
            return None
        raise ConfigError(f"{bad} may not be null")
    if tp is Any:
        return value
    origin = typing.get_origin(tp)
    if origin is list:
        (item,) = typing.get_args(tp)
        if item is str and isinstance(value, str):
            return [value]  # a single dataset spec is a one-item list
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{bad} must be a list, got {value!r}")
        return [_convert(item, v, where, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{bad} must be a mapping, got {value!r}")
        return dict(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{bad} must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{bad} must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{bad} must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if isinstance(value, bool):  # YAML reads `amp: true` as a bool
            return str(value).lower()
        if not isinstance(value, (str, int, float)):
            raise ConfigError(f"{bad} must be a string, got {value!r}")
        return str(value)
    return value


def apply_override(data: dict[str, Any], assignment: str) -> None:
    """Apply ``section.key=value`` (value parsed as YAML) to the raw config mapping."""
    key, sep, text = assignment.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {assignment!r}: expected KEY=VALUE, e.g. --set train.batch_size=4")
    try:
        value = yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError:
        value = text
    parts = key.strip().split(".")
    node = data
    for part in parts[:-1]:
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"--set {assignment!r}: {part!r} is not a section")
        node = child
    node[parts[-1]] = value


def load_config(path: str | Path | None, overrides: list[str] | tuple[str, ...] = ()) -> TrainConfig:
    data: dict[str, Any] = {}
    where = "config"
    if path is not None:
        path = Path(path)
        where = str(path)
        try:
            loaded = yaml.safe_load(path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"training config {path} does not exist") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path} is not valid YAML: {str(exc).splitlines()[0]}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{path}: expected a mapping at the top level")
        data = loaded or {}
    for assignment in overrides:
        apply_override(data, assignment)
    return TrainConfig.from_dict(data, where)
