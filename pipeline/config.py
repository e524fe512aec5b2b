"""Load, validate and override the run configuration (schema: ``pipeline.config_schema``).

``load_config(path, overrides)`` reads YAML with ``segcore.strict_yaml`` (safe, a key given twice
refused), lays it over the built-in defaults, applies ``--set a.b=c`` overrides (values parsed as
YAML scalars) and checks everything; the mechanism is ``segcore.typed_yaml``, the choices and
ranges are the schema's, this module adds what one field cannot say (the device name, the
backend's options, one value against another). Every mistake is a ``ConfigError`` of one line
that says where and what to do:

* unreadable YAML, or a key given twice → the file and line;
* an unknown key → the nearest valid key (``model.pth``: did you mean ``model.path``?), also
  inside ``model.options``, against the options of the backend the model runs on;
* a wrong type → the key and the expected type;
* a value outside its choices or range (NaN and infinities never inside one) → the allowed values.

``check_allowed(key, value)`` gives a component constructed in code the same check and error.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from engines.devices import parse_device
from engines.errors import ModelError
from engines.registry import backend_for, check_options
from engines.weights import default_model_path
from pipeline.config_schema import Config, ModelConfig
from segcore import typed_yaml
from segcore.errors import ConfigError


def load_config(
    path: str | Path | None = None,
    overrides: Sequence[str] = (),
    *,
    values: Mapping[str, Any] | None = None,
    value_origins: Mapping[str, str] | None = None,
) -> Config:
    """Defaults ← YAML file ``path`` ← ``values`` (dotted key → value) ← ``overrides`` ("a.b=c");
    ``value_origins`` names where values came from (a flag), for the error messages."""
    return SCHEMA.load(path, overrides, values=values, value_origins=value_origins)


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


def check_allowed(key: str, value: Any) -> None:
    """``ConfigError`` unless ``value`` is among the choices and inside the range of config key
    ``key`` ("render.visualize is 'squash'; allowed values: overlay, mask, side, none"), for a
    value that reaches a component without a config file."""
    SCHEMA.check_allowed(key, value)


def model_backend(model: ModelConfig) -> str | None:
    """The backend ``model`` runs on (``auto``: the one its file's suffix names), None when the suffix names none."""
    try:
        return backend_for(model.path or default_model_path(), model.backend)
    except ModelError:
        return None  # said when the model is opened


def _check_values(config: Config, where: typed_yaml.Places) -> None:
    parse_device(config.model.device, key="model.device", where=where)
    backend = model_backend(config.model)
    if backend is not None:
        check_options(backend, config.model.options, where=where, code=False)
    size = config.preprocess.size
    if size is not None and len(size) != 2:  # each side's range is the schema's
        raise ConfigError(f"{where('preprocess.size')}: preprocess.size is {size}; expected [height, width], or null")
    if not config.source.uris:
        raise ConfigError(f"{where('source.uris')}: source.uris is empty; give at least one source")
    if config.source.reconnect.max_backoff_s < config.source.reconnect.initial_backoff_s:
        raise ConfigError(
            f"{where('source.reconnect.max_backoff_s')}: source.reconnect.max_backoff_s ({config.source.reconnect.max_backoff_s}) is below "
            f"initial_backoff_s ({config.source.reconnect.initial_backoff_s})"
        )
    _check_events(config, where)


def _check_events(config: Config, where: typed_yaml.Places) -> None:
    from pipeline.events.mqtt import parse_mqtt_url
    from pipeline.events.webhook import check_webhook_url
    from pipeline.events.zones import check_zone_configs

    check_zone_configs(config.zones, where)
    if config.restream.url is not None:
        from pipeline.sinks.restream import parse_restream_url

        try:
            parse_restream_url(config.restream.url)
        except ConfigError as exc:
            raise ConfigError(f"{where('restream.url')}: {exc}") from None
    events = config.events
    for key, value, check in (("events.mqtt", events.mqtt, parse_mqtt_url), ("events.webhook", events.webhook, check_webhook_url)):
        if value is None:
            continue
        try:
            check(value)
        except ConfigError as exc:
            raise ConfigError(f"{where(key)}: {exc}") from None
        if not any(config.zones.values()):
            raise ConfigError(
                f"{where(key)}: {key} sends zone events, but the config has no zones; add a zones: section "
                "(configs/default.yaml shows one)"
            )


SCHEMA = typed_yaml.Schema(Config, check=_check_values, example="runtime.batch_size=4")
