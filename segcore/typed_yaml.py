"""Typed configuration from YAML: a tree of dataclasses, type-checked, with ``--set`` overrides.

A schema is a dataclass whose fields are sections (nested dataclasses) or values: ``bool``,
``int``, ``float``, ``str``, ``Literal[...]`` choices, ``X | None``, unions, ``list[X]``,
``dict[K, V]`` (a free-form mapping) and ``Any``; field metadata adds ranges and choices owned
elsewhere (``segcore.typed_values``: ``limits``, ``choices``, ``BOOL_AS_TEXT``). ``Schema.load``
lays, in order, the built-in defaults ← a YAML file (``segcore.strict_yaml``: safe, a key given
twice refused) ← dotted ``values`` ← ``--set a.b=c`` overrides (the value parsed as a YAML
scalar), builds the dataclasses and runs the schema's own check (what one field cannot say: one
value against another). Every mistake is a ``ConfigError`` of one line that names where the
value came from (the file or the ``--set``), the key and what to do:

* unreadable YAML, or a key given twice → the file, line and column;
* an unknown key, at any depth → the nearest valid key ("did you mean 'model.path'?"), or the
  valid keys there;
* a wrong type → the key, the expected type and the value found;
* a value outside its choices or range (a NaN or an infinity is never inside) → the allowed
  values or the bounds.

How values are checked (strict types, an integer for a float, a single string for a list of
strings) is ``segcore.typed_values``'s.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import functools
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar, Union

import yaml

from segcore.errors import ConfigError
from segcore.strict_yaml import DuplicateKeyError, load_yaml, yaml_error
from segcore.typed_values import (
    BOOL_AS_TEXT,
    check_allowed,
    check_value,
    choices,
    is_mapping,
    kind_of,
    limits,
)

__all__ = ["BOOL_AS_TEXT", "Places", "Schema", "choices", "limits", "valid_keys"]

T = TypeVar("T")


class Places:
    """Where each dotted key's value came from (a config file, a ``--set``), for error messages."""

    def __init__(self, default: str = "config", origins: Mapping[str, str] | None = None) -> None:
        self.default = default
        self.origins = dict(origins or {})

    def __call__(self, key: str) -> str:
        key = key.split("[")[0]
        while key:  # a key inside a mapping field came from where that field was set
            if key in self.origins:
                return self.origins[key]
            key = key.rpartition(".")[0]
        return self.default


@dataclasses.dataclass(frozen=True)
class Schema(Generic[T]):
    """How to load one configuration tree.

    ``check(config, places)`` validates values after the types are right; ``what`` names a file
    in messages ("config file x.yaml"); ``example`` is shown when a ``--set`` lacks its "=";
    ``suggest`` picks how a "did you mean" names a key in the same section: the whole dotted key
    ("key") or the field name alone ("name").
    """

    root: type[T]
    check: Callable[[T, Places], None] | None = None
    what: str = "config file"
    example: str = "section.key=value"
    suggest: Literal["key", "name"] = "key"

    def load(
        self,
        path: str | Path | None = None,
        overrides: Sequence[str] = (),
        *,
        values: Mapping[str, Any] | None = None,
        value_origins: Mapping[str, str] | None = None,
    ) -> T:
        """Defaults ← YAML file ``path`` ← ``values`` (dotted key → value) ← ``overrides`` ("a.b=c").

        ``value_origins`` names where a value came from (a command-line flag: ``"--alpha nan"``),
        for its error message; unnamed values are "setting KEY"."""
        data = self.defaults()
        origins: dict[str, str] = {}
        if path is not None:
            self.merge(data, self.read(path), where=f"{self.what} {path}", origins=origins)
        for key, value in (values or {}).items():
            where = (value_origins or {}).get(key, f"setting {key}")
            self.set_key(data, key, value, where=where, origins=origins)
        for override in overrides:
            key, value = self.parse_override(override)
            self.set_key(data, key, value, where=f"--set {override}", origins=origins)
        return self.build(data, Places(f"{self.what} {path}" if path is not None else "config", origins))

    def defaults(self) -> dict[str, Any]:
        return dataclasses.asdict(typing.cast(Any, self.root()))

    def keys(self) -> list[str]:
        return valid_keys(self.root)

    def read(self, path: str | Path) -> dict[str, Any]:
        """The YAML mapping in ``path`` ({} for an empty file)."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"{self.what} {path} does not exist") from None
        except IsADirectoryError:
            raise ConfigError(f"{self.what} {path} is a directory, not a YAML file") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read {self.what} {path}: {getattr(exc, 'strerror', None) or exc}") from None
        try:
            data = load_yaml(text)
        except yaml.YAMLError as exc:
            raise ConfigError(yaml_error(exc, f"{self.what} {path}")) from None
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise ConfigError(f"{self.what} {path}: expected a mapping of sections at the top, got {kind_of(data)}")
        return data

    def parse_override(self, text: str) -> tuple[str, Any]:
        """``"a.b=c"`` → ("a.b", c parsed as a YAML scalar: 3 → int, true → bool, null → None)."""
        key, sep, raw = text.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set {text}: expected key=value, e.g. --set {self.example}")
        try:
            value = load_yaml(raw) if raw.strip() else None
        except DuplicateKeyError as exc:
            raise ConfigError(f"--set {text}: duplicate key {exc.key!r}; keep one of them") from None
        except yaml.YAMLError:
            value = raw  # not YAML: take it as the plain string it looks like
        return key, value

    def set_key(
        self, data: dict[str, Any], key: str, value: Any, *, where: str, origins: dict[str, str] | None = None
    ) -> None:
        """Set dotted ``key`` in the nested dict ``data`` (missing sections are created).

        A key must be in the schema, except below a mapping field (``model.kwargs.depth``), where
        keys are created. A mapping given for a section is merged into it.
        """
        parts = key.split(".")
        kind: type = self.root
        node = data
        for depth, part in enumerate(parts):
            dotted = ".".join(parts[: depth + 1])
            hints = _hints(kind)
            if part not in hints:
                raise ConfigError(f"{where}: {self.unknown(key)}")
            hint = hints[part]
            section = _section(hint)
            last = depth == len(parts) - 1
            if section is None or (last and value is None and _nullable(hint)):
                if last:
                    node[part] = copy.deepcopy(value)
                elif is_mapping(hint):
                    _set_inside(node, parts[depth:], value, where=where, prefix=".".join(parts[:depth]))
                else:
                    raise ConfigError(f"{where}: {dotted} is a value, not a section")
                if origins is not None:
                    origins[dotted] = where
                return
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            if last:
                if not isinstance(value, Mapping):
                    raise ConfigError(f"{where}: {dotted} is a section; expected a mapping, got {kind_of(value)}")
                self._merge(section, child, value, where, f"{dotted}.", origins)
                return
            node, kind = child, section

    def merge(
        self, data: dict[str, Any], update: Mapping[str, Any], *, where: str, origins: dict[str, str] | None = None
    ) -> None:
        """Lay the nested mapping ``update`` (a YAML file) over ``data``; an empty section keeps ``data``'s."""
        self._merge(self.root, data, update, where, "", origins)

    def _merge(
        self, kind: type, base: dict[str, Any], update: Mapping[str, Any], where: str, prefix: str,
        origins: dict[str, str] | None,
    ) -> None:
        hints = _hints(kind)
        for key, value in update.items():
            dotted = f"{prefix}{key}"
            if not isinstance(key, str) or key not in hints:
                raise ConfigError(f"{where}: {self.unknown(dotted)}")
            section = _section(hints[key])
            if section is None or (value is None and _nullable(hints[key])):
                base[key] = copy.deepcopy(value)
                if origins is not None:
                    origins[dotted] = where
            elif value is None:
                continue  # an empty section in YAML ("render:") keeps the defaults
            elif not isinstance(value, Mapping):
                raise ConfigError(f"{where}: {dotted} is a section; expected a mapping, got {kind_of(value)}")
            else:
                child = base.get(key)
                if not isinstance(child, dict):
                    child = base[key] = {}
                self._merge(section, child, value, where, f"{dotted}.", origins)

    def unknown(self, key: str) -> str:
        """"unknown key 'k'; did you mean 'nearest'?" (or the valid keys of that section)."""
        keys = self.keys()
        parent = key.rpartition(".")[0]

        def shown(k: str) -> str:  # in "name" mode, a key in the user's section is named alone
            return k.rpartition(".")[2] if self.suggest == "name" and k.rpartition(".")[0] == parent else k

        close = _nearest(key, keys)
        if close is not None:
            return f"unknown key '{key}'; did you mean '{shown(close)}'?"
        options = [k for k in keys if k.rpartition(".")[0] == parent] or [k for k in keys if "." not in k]
        return f"unknown key '{key}'; valid keys here: {', '.join(map(shown, options))}"

    def build(self, data: Any, places: Places | None = None) -> T:
        """The checked dataclass tree from a nested mapping; missing keys keep their defaults."""
        places = places or Places()
        config: T = self._build(self.root, data, places, "")
        if self.check is not None:
            self.check(config, places)
        return config

    def _build(self, kind: type, data: Any, where: Places, prefix: str) -> Any:
        if not isinstance(data, Mapping):
            key = prefix.rstrip(".")
            raise ConfigError(f"{where(key)}: {key or 'the top level'} must be a mapping, got {kind_of(data)}")
        fields = [f for f in dataclasses.fields(kind) if f.init]
        names = {f.name for f in fields}
        for name in data:
            if name not in names:
                key = f"{prefix}{name}"
                if "[" in prefix:  # a section inside a list (zones.cam[0]): its own fields, not the dotted keys
                    close = difflib.get_close_matches(str(name), [f.name for f in fields], n=1, cutoff=0.6)
                    hint = f"did you mean '{close[0]}'?" if close else f"valid keys here: {', '.join(f.name for f in fields)}"
                    raise ConfigError(f"{where(key)}: unknown key '{key}'; {hint}")
                raise ConfigError(f"{where(key)}: {self.unknown(key)}")
        hints = _hints(kind)

        def section(inner: type, value: Any, inner_prefix: str) -> Any:
            return self._build(inner, value, where, inner_prefix)

        kwargs = {}
        for f in fields:
            if f.name in data:
                key = f"{prefix}{f.name}"
                kwargs[f.name] = check_value(data[f.name], hints[f.name], key, where, f.metadata, section=section)
        return kind(**kwargs)

    def check_allowed(self, key: str, value: Any) -> None:
        """``ConfigError`` unless ``value`` is among the choices and inside the range of the
        field ``key`` (its type is not checked): for a value given to a component in code."""
        hint, metadata = self.field(key)
        check_allowed(value, metadata, key, hint=hint)

    def field(self, key: str) -> tuple[Any, Mapping[str, object]]:
        """(type hint, metadata) of the value field at dotted ``key``."""
        kind: type | None = self.root
        *sections, name = key.split(".")
        for part in sections:
            kind = _section(_hints(kind).get(part)) if kind is not None else None
        fields = {f.name: f for f in dataclasses.fields(kind) if f.init} if kind is not None else {}
        if name not in fields or _section(_hints(typing.cast(type, kind))[name]) is not None:
            raise KeyError(f"{key} is not a value field of {self.root.__name__}")
        return _hints(typing.cast(type, kind))[name], fields[name].metadata


def valid_keys(kind: type, prefix: str = "") -> list[str]:
    """Every dotted key of the schema ``kind`` (sections and leaves)."""
    keys = []
    for name, hint in _hints(kind).items():
        key = f"{prefix}{name}"
        keys.append(key)
        section = _section(hint)
        if section is not None:
            keys.extend(valid_keys(section, f"{key}."))
    return keys


@functools.cache
def _hints(kind: type) -> dict[str, Any]:
    """Field name → resolved type of the dataclass ``kind`` (fields set by ``__init__`` only)."""
    resolved = typing.get_type_hints(kind)
    return {f.name: resolved[f.name] for f in dataclasses.fields(kind) if f.init}


def _section(hint: Any) -> type | None:
    """The dataclass a field holds (through ``X | None``), or None for a value field."""
    if typing.get_origin(hint) in (Union, types.UnionType):
        inner = [a for a in typing.get_args(hint) if a is not type(None)]
        hint = inner[0] if len(inner) == 1 else None
    return hint if isinstance(hint, type) and dataclasses.is_dataclass(hint) else None


def _nullable(hint: Any) -> bool:
    return typing.get_origin(hint) in (Union, types.UnionType) and type(None) in typing.get_args(hint)


def _set_inside(node: dict[str, Any], parts: list[str], value: Any, *, where: str, prefix: str) -> None:
    """Set ``parts`` (a mapping field, then keys inside it) in ``node``, creating mappings on the way."""
    for depth, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            key = ".".join([p for p in (prefix, *parts[: depth + 1]) if p])
            raise ConfigError(f"{where}: {key} holds {kind_of(child)} {child!r}, not a mapping")
        node = child
    node[parts[-1]] = copy.deepcopy(value)


def _nearest(key: str, keys: list[str]) -> str | None:
    """The valid key nearest to ``key``: each part matched among its section's names, else by the last part."""
    fixed = ""
    for part in key.split("."):
        prefix = f"{fixed}." if fixed else ""
        names = [k[len(prefix):] for k in keys if k.startswith(prefix) and "." not in k[len(prefix):]]
        match = [part] if part in names else difflib.get_close_matches(part, names, n=1, cutoff=0.6)
        if not match:
            break
        fixed = prefix + match[0]
    else:
        return fixed if fixed != key else None
    by_leaf: dict[str, str] = {}  # a key in the wrong section (or at the wrong depth): its name alone
    for k in keys:
        by_leaf.setdefault(k.rpartition(".")[2], k)
    match = difflib.get_close_matches(key.rpartition(".")[2], list(by_leaf), n=1, cutoff=0.75)
    return by_leaf[match[0]] if match else None
