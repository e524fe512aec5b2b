"""Load, validate and override the run configuration (schema: ``pipeline.config_schema``).

``load_config(path, overrides)`` reads YAML with ``yaml.safe_load`` only, lays it over the
built-in defaults, applies ``--set a.b=c`` overrides (values parsed as YAML scalars) and checks
everything; the mechanism is ``segcore.typed_yaml``, this module adds the run's value checks.
Every mistake is a ``ConfigError`` of one line that says where and what to do:

* unreadable YAML → the file and line;
* an unknown key → the nearest valid key (``model.pth``: did you mean ``model.path``?);
* a wrong type → the key and the expected type;
* a value outside its choices or range → the allowed values.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from engines.registry import BACKENDS
from engines.transforms import RESIZE_MODES
from pipeline.config_schema import Config
from segcore import typed_yaml
from segcore.errors import ConfigError

CHOICES: dict[str, tuple[str, ...]] = {
    "model.backend": ("auto", *BACKENDS),
    "source.mode": ("auto", "live", "offline"),
    "source.decoder": ("auto", "pyav", "opencv"),
    "source.rtsp_transport": ("tcp", "udp"),
    "preprocess.resize": RESIZE_MODES,
    "postprocess.upsample": ("nearest", "bilinear"),
    "postprocess.smoothing": ("none", "ema", "majority"),
    "render.visualize": ("overlay", "mask", "side", "none"),
    "output.codec": ("auto", "h264", "mp4v"),
    "output.video_preset": ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow"),
}

# key → (lowest, highest, lowest is exclusive); None for no bound
RANGES: dict[str, tuple[float | None, float | None, bool]] = {
    "model.threads": (0, None, False),
    "source.decode_threads": (0, 64, False),
    "model.num_classes": (1, 255, False),
    "postprocess.ema_alpha": (0.0, 1.0, True),
    "postprocess.majority_window": (1, 64, False),
    "render.alpha": (0.0, 1.0, False),
    "runtime.queue_size": (1, 1024, False),
    "runtime.batch_size": (1, 1024, False),
    "runtime.batch_timeout_ms": (0.0, None, False),
    "runtime.max_frames": (0, None, False),
    "source.reconnect.initial_backoff_s": (0.0, None, False),
    "source.reconnect.max_backoff_s": (0.0, None, False),
    "source.reconnect.jitter": (0.0, 1.0, False),
    "source.reconnect.max_attempts": (0, None, False),
    "source.reconnect.stall_timeout_s": (0.0, None, True),
    "source.reconnect.open_timeout_s": (0.0, None, True),
}

_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def load_config(
    path: str | Path | None = None,
    overrides: Sequence[str] = (),
    *,
    values: Mapping[str, Any] | None = None,
) -> Config:
    """Defaults ← YAML file ``path`` ← ``values`` (dotted key → value) ← ``overrides`` ("a.b=c")."""
    return SCHEMA.load(path, overrides, values=values)


def read_yaml(path: str | Path) -> dict[str, Any]:
    return SCHEMA.read(path)


def parse_override(text: str) -> tuple[str, Any]:
    """``"a.b=c"`` → ("a.b", c parsed as a YAML scalar: 3 → int, true → bool, null → None)."""
    return SCHEMA.parse_override(text)


def to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


def valid_keys(kind: type = Config, prefix: str = "") -> list[str]:
    """Every dotted key of the schema (sections and leaves)."""
    return typed_yaml.valid_keys(kind, prefix)


def set_key(
    data: dict[str, Any], key: str, value: Any, *, where: str, origins: dict[str, str] | None = None
) -> None:
    """Set dotted ``key`` in the nested dict ``data``; unknown keys get a nearest-key hint."""
    SCHEMA.set_key(data, key, value, where=where, origins=origins)


def from_dict(data: Mapping[str, Any], *, where: str = "config", origins: Mapping[str, str] | None = None) -> Config:
    """Build and validate a Config from a nested dict; missing keys keep their defaults.

    ``origins`` maps dotted keys to where their values came from (a file, a --set), so that an
    error names the right place.
    """
    return SCHEMA.build(data, typed_yaml.Places(where, origins))


def _check_values(config: Config, where: typed_yaml.Places) -> None:
    for key, allowed in CHOICES.items():
        value = _get(config, key)
        if value not in allowed:
            raise ConfigError(f"{where(key)}: {key} is {value!r}; allowed values: {', '.join(allowed)}")
    for key, (low, high, exclusive) in RANGES.items():
        value = _get(config, key)
        if value is None:
            continue
        too_low = low is not None and (value <= low if exclusive else value < low)
        too_high = high is not None and value > high
        if too_low or too_high:
            lo = "" if low is None else f"{'>' if exclusive else '>='} {low}"
            hi = "" if high is None else f"<= {high}"
            raise ConfigError(f"{where(key)}: {key} is {value}; it must be {' and '.join(p for p in (lo, hi) if p)}")
    if not _DEVICE.match(config.model.device):
        raise ConfigError(f"{where('model.device')}: model.device is {config.model.device!r}; use auto, cpu, cuda or cuda:N")
    size = config.preprocess.size
    if size is not None and (len(size) != 2 or any(v <= 0 for v in size)):
        raise ConfigError(
            f"{where('preprocess.size')}: preprocess.size is {size}; expected [height, width] with positive values, or null"
        )
    if not config.source.uris:
        raise ConfigError(f"{where('source.uris')}: source.uris is empty; give at least one source")
    if config.source.reconnect.max_backoff_s < config.source.reconnect.initial_backoff_s:
        raise ConfigError(
            f"{where('source.reconnect.max_backoff_s')}: source.reconnect.max_backoff_s ({config.source.reconnect.max_backoff_s}) is below "
            f"initial_backoff_s ({config.source.reconnect.initial_backoff_s})"
        )


def _get(config: Any, key: str) -> Any:
    for part in key.split("."):
        config = getattr(config, part)
    return config


SCHEMA = typed_yaml.Schema(Config, check=_check_values, example="runtime.batch_size=4")
