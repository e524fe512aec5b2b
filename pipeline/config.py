"""Load, validate and override the run configuration (schema: ``pipeline.config_schema``).

``load_config(path, overrides)`` reads YAML with ``yaml.safe_load`` only, lays it over the
built-in defaults, applies ``--set a.b=c`` overrides (values parsed as YAML scalars) and checks
everything. Every mistake is a ``ConfigError`` of one line that says where and what to do:

* unreadable YAML → the file and line;
* an unknown key → the nearest valid key (``model.pth``: did you mean ``model.path``?);
* a wrong type → the key and the expected type;
* a value outside its choices or range → the allowed values.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Union

import yaml

from engines.errors import ConfigError
from engines.registry import BACKENDS
from engines.transforms import RESIZE_MODES
from pipeline.config_schema import Config

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
}

# key → (lowest, highest, lowest is exclusive); None for no bound
RANGES: dict[str, tuple[float | None, float | None, bool]] = {
    "model.threads": (0, None, False),
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

_DEVICE = re.compile(r"^(cpu|cuda(:\d+)?)$")


def load_config(
    path: str | Path | None = None,
    overrides: Sequence[str] = (),
    *,
    values: Mapping[str, Any] | None = None,
) -> Config:
    """Defaults ← YAML file ``path`` ← ``values`` (dotted key → value) ← ``overrides`` ("a.b=c")."""
    data = to_dict(Config())
    origins: dict[str, str] = {}  # dotted key → where its value came from, for error messages
    if path is not None:
        _merge(data, read_yaml(path), where=f"config file {path}", origins=origins)
    for key, value in (values or {}).items():
        set_key(data, key, value, where=f"setting {key}", origins=origins)
    for override in overrides:
        key, value = parse_override(override)
        set_key(data, key, value, where=f"--set {override}", origins=origins)
    return from_dict(data, where=f"config file {path}" if path is not None else "config", origins=origins)


def read_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {path} is a directory, not a YAML file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).strip().splitlines()[0]
        where = f"{path}, line {mark.line + 1}, column {mark.column + 1}" if mark is not None else str(path)
        raise ConfigError(f"config file {where}: invalid YAML: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: expected a mapping of sections at the top, got {_kind(data)}")
    return data


def parse_override(text: str) -> tuple[str, Any]:
    """``"a.b=c"`` → ("a.b", c parsed as a YAML scalar: 3 → int, true → bool, null → None)."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"--set {text}: expected key=value, e.g. --set runtime.batch_size=4")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw  # not YAML: take it as the plain string it looks like
    return key, value


def to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


def valid_keys(kind: type = Config, prefix: str = "") -> list[str]:
    """Every dotted key of the schema (sections and leaves)."""
    keys = []
    hints = typing.get_type_hints(kind)
    for f in dataclasses.fields(kind):
        key = f"{prefix}{f.name}"
        keys.append(key)
        if dataclasses.is_dataclass(hints[f.name]):
            keys.extend(valid_keys(hints[f.name], f"{key}."))
    return keys


def set_key(
    data: dict[str, Any], key: str, value: Any, *, where: str, origins: dict[str, str] | None = None
) -> None:
    """Set dotted ``key`` in the nested dict ``data``; unknown keys get a nearest-key hint."""
    parts = key.split(".")
    node: Any = data
    for depth, part in enumerate(parts[:-1]):
        if not isinstance(node, dict) or part not in node:
            raise ConfigError(f"{where}: {_unknown(key)}")
        node = node[part]
        if not isinstance(node, dict):
            raise ConfigError(f"{where}: {'.'.join(parts[: depth + 1])} is a value, not a section")
    if not isinstance(node, dict) or parts[-1] not in node:
        raise ConfigError(f"{where}: {_unknown(key)}")
    if isinstance(node[parts[-1]], dict) and parts[-1] != "options":
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: {key} is a section; expected a mapping, got {_kind(value)}")
        _merge(node[parts[-1]], value, where=where, prefix=f"{key}.", origins=origins)
    else:
        node[parts[-1]] = value
        if origins is not None:
            origins[key] = where


def _merge(
    base: dict[str, Any],
    update: Mapping[str, Any],
    *,
    where: str,
    prefix: str = "",
    origins: dict[str, str] | None = None,
) -> None:
    for key, value in update.items():
        dotted = f"{prefix}{key}"
        if not isinstance(key, str) or key not in base:
            raise ConfigError(f"{where}: {_unknown(dotted)}")
        if isinstance(base[key], dict) and key != "options":
            if value is None:
                continue  # an empty section in YAML ("render:") keeps the defaults
            if not isinstance(value, Mapping):
                raise ConfigError(f"{where}: {dotted} is a section; expected a mapping, got {_kind(value)}")
            _merge(base[key], value, where=where, prefix=f"{dotted}.", origins=origins)
        else:
            base[key] = value
            if origins is not None:
                origins[dotted] = where


def _unknown(key: str) -> str:
    keys = valid_keys()
    close = difflib.get_close_matches(key, keys, n=1, cutoff=0.6)
    if not close:  # try the last part alone against the leaves of the same section, then all leaves
        parent, _, leaf = key.rpartition(".")
        siblings = [k.rpartition(".")[2] for k in keys if k.rpartition(".")[0] == parent]
        leaf_match = difflib.get_close_matches(leaf, siblings, n=1, cutoff=0.5)
        if leaf_match:
            close = [f"{parent}.{leaf_match[0]}" if parent else leaf_match[0]]
        else:
            by_leaf = {k.rpartition(".")[2]: k for k in keys}
            leaf_match = difflib.get_close_matches(leaf, list(by_leaf), n=1, cutoff=0.75)
            close = [by_leaf[leaf_match[0]]] if leaf_match else []
    if close:
        return f"unknown key '{key}'; did you mean '{close[0]}'?"
    parent = key.rpartition(".")[0]
    options = [k for k in keys if k.rpartition(".")[0] == parent] or [k for k in keys if "." not in k]
    return f"unknown key '{key}'; valid keys here: {', '.join(options)}"


def from_dict(data: Mapping[str, Any], *, where: str = "config", origins: Mapping[str, str] | None = None) -> Config:
    """Build and validate a Config from a nested dict; missing keys keep their defaults.

    ``origins`` maps dotted keys to where their values came from (a file, a --set), so that an
    error names the right place.
    """
    places = _Places(where, origins or {})
    config = _build(Config, data, places, "")
    _check_values(config, places)
    return config


class _Places:
    def __init__(self, default: str, origins: Mapping[str, str]) -> None:
        self.default = default
        self.origins = origins

    def __call__(self, key: str) -> str:
        return self.origins.get(key.split("[")[0], self.default)


def _build(kind: type, data: Any, where: _Places, prefix: str) -> Any:
    if not isinstance(data, Mapping):
        key = prefix.rstrip(".")
        raise ConfigError(f"{where(key)}: {key or 'config'} must be a mapping, got {_kind(data)}")
    hints = typing.get_type_hints(kind)
    kwargs = {}
    for f in dataclasses.fields(kind):
        if f.name not in data:
            continue
        key = f"{prefix}{f.name}"
        kwargs[f.name] = _coerce(data[f.name], hints[f.name], key, where)
    unknown = set(data) - {f.name for f in dataclasses.fields(kind)}
    if unknown:
        key = prefix + sorted(map(str, unknown))[0]
        raise ConfigError(f"{where(key)}: {_unknown(key)}")
    return kind(**kwargs)


def _coerce(value: Any, hint: Any, key: str, where: _Places) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            return _coerce(value, inner[0], key, where)
    if dataclasses.is_dataclass(hint):
        return _build(typing.cast(type, hint), value if value is not None else {}, where, f"{key}.")
    if value is None:
        raise ConfigError(f"{where(key)}: {key} must be {_expected(hint)}, got null")
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif hint is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)  # e.g. a webcam index written as 0
    elif origin is list:
        (item,) = args
        if item is str and isinstance(value, (str, int)) and not isinstance(value, bool):
            value = [value]  # a single URI where a list is expected
        if isinstance(value, list):
            return [_coerce(v, item, f"{key}[{i}]", where) for i, v in enumerate(value)]
    elif origin is dict:
        if isinstance(value, Mapping):
            return dict(value)
    else:
        return value
    raise ConfigError(f"{where(key)}: {key} must be {_expected(hint)}, got {_kind(value)} {value!r}")


def _expected(hint: Any) -> str:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (Union, types.UnionType):
        inner = [_expected(a) for a in args if a is not type(None)]
        return " or ".join(inner) + (" or null" if type(None) in args else "")
    if origin is list:
        return f"a list of {_expected(args[0]).removeprefix('a ').removeprefix('an ')}s"
    if origin is dict:
        return "a mapping"
    names = {bool: "a boolean (true/false)", int: "an integer", float: "a number", str: "a string"}
    return names.get(hint, getattr(hint, "__name__", str(hint)))


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    names = {bool: "boolean", int: "integer", float: "number", str: "string", list: "list", dict: "mapping"}
    return names.get(type(value), type(value).__name__)


def _check_values(config: Config, where: _Places) -> None:
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
        raise ConfigError(f"{where('model.device')}: model.device is {config.model.device!r}; use cpu, cuda or cuda:N")
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
