"""One configuration value checked against its type hint and its field's metadata.

``segcore.typed_yaml`` builds whole trees with these; they are also called on their own, to
check a value that reaches a component without a config file (a constructor argument, a backend
option). Every problem is a ``ConfigError`` of one line: where the value came from (when known),
the key, and what is allowed.

Types are strict where YAML is loose: ``true``/``yes`` is not an integer and ``1`` is not a
boolean. An integer is accepted for a float, a number for a string (a webcam index ``0``) and a
single string for a list of strings. A float is finite: NaN and infinities are refused wherever
a number is read. A ``Literal[...]`` type is a choice ("render.visualize is 'squash'; allowed
values: overlay, mask, side, none"). Field metadata adds what a type cannot say:

* ``limits(low=0, high=64)`` (``above``/``below`` for exclusive bounds, ``per_core=4`` for a bound
  that grows with the CPU cores): a range, on a list field for every item;
* ``choices(values)``: the allowed values when another module owns the list (a registry's names);
* ``BOOL_AS_TEXT``: YAML ``true``/``false`` taken as "true"/"false" (choices such as ``auto | true | false``).
"""

from __future__ import annotations

import dataclasses
import math
import os
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal, Union

from segcore.errors import ConfigError

__all__ = [
    "BOOL_AS_TEXT", "Limits", "Where", "allowed_values", "check_allowed", "check_value", "choices", "coerce",
    "cpu_cores", "expected", "is_mapping", "kind_of", "limits", "limits_of",
]

Where = Callable[[str], str]
"""Dotted key → where its value came from ("config file x.yaml", "--set a.b=c"), for messages."""

_BOOL_AS_TEXT = "yaml_config.bool_as_text"
_CHOICES = "typed_values.choices"
_LIMITS = "typed_values.limits"
BOOL_AS_TEXT: Mapping[str, object] = types.MappingProxyType({_BOOL_AS_TEXT: True})


@dataclasses.dataclass(frozen=True)
class Limits:
    """A range: ``low <= value <= high`` (``<`` on a side marked exclusive); None: unbounded there.

    ``per_core``: ``high`` counts per CPU core this process may use (``cpu_cores()``), for worker
    and thread counts, which only make sense in proportion to the machine. A NaN or an infinity
    is never inside a range.
    """

    low: float | None = None
    high: float | None = None
    low_exclusive: bool = False
    high_exclusive: bool = False
    per_core: bool = False

    def upper(self) -> float | None:
        """``high`` on this machine (``per_core``: times the usable CPU cores)."""
        if self.high is None or not self.per_core:
            return self.high
        return self.high * cpu_cores()

    def problem(self, value: Any) -> str | None:
        """"it must be >= 0 and <= 64" when ``value`` is outside, else None."""
        low, high = self.low, self.upper()
        finite = not isinstance(value, float) or math.isfinite(value)
        too_low = low is not None and (value <= low if self.low_exclusive else value < low)
        too_high = high is not None and (value >= high if self.high_exclusive else value > high)
        if finite and not too_low and not too_high:
            return None
        lo = "" if low is None else f"{'>' if self.low_exclusive else '>='} {low}"
        hi = "" if high is None else f"{'<' if self.high_exclusive else '<='} {high}"
        bounds = " and ".join(p for p in (lo, hi) if p)
        text = f"it must be {'a finite number ' if not finite else ''}{bounds}".rstrip()
        if self.per_core:
            cores = cpu_cores()
            text += f" ({self.high:g} per CPU core; {cores} core{'s' if cores != 1 else ''} here)"
        return text

    def doc_text(self) -> str:
        """The range as configs/*.yaml comments write it: "1..64", "0 < x <= 1", "0..4 per CPU core"."""
        high = None if self.high is None else f"{_num(self.high)}{' per CPU core' if self.per_core else ''}"
        low = None if self.low is None else _num(self.low)
        if low is not None and high is not None and not (self.low_exclusive or self.high_exclusive):
            return f"{low}..{high}"
        lo = "" if low is None else f"{low} {'<' if self.low_exclusive else '<='} "
        hi = "" if high is None else f" {'<' if self.high_exclusive else '<='} {high}"
        return f"{lo}x{hi}"


def limits(
    *,
    low: float | None = None,
    above: float | None = None,
    high: float | None = None,
    below: float | None = None,
    per_core: float | None = None,
) -> Mapping[str, object]:
    """Field metadata: the value must be ``>= low`` (or ``> above``) and ``<= high`` (or ``< below``,
    or ``<= per_core`` × the usable CPU cores); None is always allowed. On a list field the range
    holds for every item. A NaN or an infinity is always refused."""
    if low is not None and above is not None:
        raise TypeError("give low or above, not both")
    if sum(v is not None for v in (high, below, per_core)) > 1:
        raise TypeError("give one of high, below and per_core")
    top = next((v for v in (high, below, per_core) if v is not None), None)
    bound = Limits(above if above is not None else low, top, low_exclusive=above is not None,
                   high_exclusive=below is not None, per_core=per_core is not None)
    return types.MappingProxyType({_LIMITS: bound})


def limits_of(metadata: Mapping[str, object]) -> Limits | None:
    """The range a field's metadata sets, or None."""
    bound = metadata.get(_LIMITS)
    return bound if isinstance(bound, Limits) else None


def cpu_cores() -> int:
    """The CPU cores this process may run on (its affinity mask, e.g. under ``taskset`` or a cpuset)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def choices(values: Iterable[object]) -> Mapping[str, object]:
    """Field metadata: the allowed values, for a list another module owns (else use a ``Literal`` type)."""
    return types.MappingProxyType({_CHOICES: tuple(values)})


def allowed_values(hint: Any, metadata: Mapping[str, object] = types.MappingProxyType({})) -> tuple[Any, ...] | None:
    """The choices a field allows (its ``Literal`` values or its ``choices`` metadata), or None."""
    listed = metadata.get(_CHOICES)
    if listed is not None:
        return typing.cast(tuple[Any, ...], listed)
    literal = _literal(hint)
    return typing.get_args(literal) if literal is not None else None


def check_value(
    value: Any,
    hint: Any,
    key: str,
    where: Where | None = None,
    metadata: Mapping[str, object] | None = None,
    *,
    section: Callable[[type, Any, str], Any] | None = None,
) -> Any:
    """``value`` checked against ``hint`` and the field ``metadata`` (choices, limits), coerced
    (an integer for a float becomes a float); ``ConfigError`` naming ``key`` otherwise.
    ``section`` builds nested dataclasses (see ``coerce``)."""
    metadata = metadata or {}
    if metadata.get(_BOOL_AS_TEXT) and isinstance(value, bool):
        value = str(value).lower()
    _check_range(value, metadata, key, where, numbers_only=True)  # before coerce: a NaN is told its range
    value = coerce(value, hint, key, where, section=section)
    check_allowed(value, metadata, key, where)
    return value


def check_allowed(
    value: Any, metadata: Mapping[str, object], key: str, where: Where | None = None, hint: Any = None
) -> None:
    """``ConfigError`` unless ``value`` is one of the field's choices and inside its limits (its type is not checked)."""
    allowed = allowed_values(hint, metadata)
    if allowed is not None and not _member(value, allowed):
        raise ConfigError(_choice_message(value, allowed, key, where))
    _check_range(value, metadata, key, where)


def _check_range(
    value: Any, metadata: Mapping[str, object], key: str, where: Where | None, numbers_only: bool = False
) -> None:
    """``ConfigError`` when ``value`` (each item of a list) is outside the field's limits."""
    bound = limits_of(metadata)
    if bound is None or value is None:
        return
    items = list(enumerate(value)) if isinstance(value, (list, tuple)) else [(None, value)]
    for index, item in items:
        if item is None or (numbers_only and not _is_number(item)):
            continue
        problem = bound.problem(item)
        if problem is not None:
            shown = key if index is None else f"{key}[{index}]"
            raise ConfigError(f"{_at(where, key)}{shown} is {item}; {problem}")


def coerce(
    value: Any,
    hint: Any,
    key: str,
    where: Where | None = None,
    shown: Any = None,
    section: Callable[[type, Any, str], Any] | None = None,
) -> Any:
    """``value`` checked against ``hint`` (a message names ``shown``, by default ``hint``).

    ``section(kind, value, prefix)`` builds a nested dataclass ``kind`` (``typed_yaml``'s sections).
    """
    if hint is Any or hint is object:
        return value
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            return coerce(value, inner[0], key, where, shown=hint, section=section)
        for member in inner:  # the first member that takes the value wins
            try:
                return coerce(value, member, key, where, section=section)
            except ConfigError:
                continue
    elif origin is Literal:
        if all(isinstance(a, str) for a in args):  # a choice of strings: first a string, then one of them
            value = coerce(value, str, key, where, shown=shown if shown is not None else str)
        if _member(value, args):
            return value
        if value is not None or type(None) in args:
            raise ConfigError(_choice_message(value, args, key, where))
    elif isinstance(hint, type) and dataclasses.is_dataclass(hint):
        if section is not None:
            return section(hint, {} if value is None else value, f"{key}.")
        if isinstance(value, hint):
            return value
    elif value is None:
        pass
    elif hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if _is_number(value):
            number = float(value) if abs(value) < 2**1023 else math.inf
            if not math.isfinite(number):
                raise ConfigError(f"{_at(where, key)}{key} is {value}; it must be a finite number")
            return number
    elif hint is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)  # e.g. a webcam index written as 0
    elif origin is list or hint is list:
        item = args[0] if args else Any
        if item is str and isinstance(value, (str, int)) and not isinstance(value, bool):
            value = [value]  # a single URI or dataset where a list is expected
        if isinstance(value, (list, tuple)):
            return [coerce(v, item, f"{key}[{i}]", where, section=section) for i, v in enumerate(value)]
    elif is_mapping(hint):
        if isinstance(value, Mapping):
            key_type, item = args if len(args) == 2 else (Any, Any)
            for k in value:
                if key_type is str and not isinstance(k, str):
                    raise ConfigError(f"{_at(where, key)}{key} must have string keys, got {kind_of(k)} {k!r}")
            return {k: coerce(v, item, f"{key}.{k}", where, section=section) for k, v in value.items()}
    else:
        return value  # a type this module does not check
    got = "null" if value is None else f"{kind_of(value)} {value!r}"
    raise ConfigError(f"{_at(where, key)}{key} must be {expected(shown or hint)}, got {got}")


def is_mapping(hint: Any) -> bool:
    if typing.get_origin(hint) in (Union, types.UnionType):
        return any(is_mapping(a) for a in typing.get_args(hint))
    return hint in (dict, Mapping) or typing.get_origin(hint) in (dict, Mapping)


_NAMES = {bool: ("a boolean (true/false)", "booleans"), int: ("an integer", "integers"),
          float: ("a number", "numbers"), str: ("a string", "strings")}


def expected(hint: Any, plural: bool = False) -> str:
    """How a message names the type ``hint``: "an integer", "a list of strings", "a mapping or null"."""
    if hint is Any or hint is object:
        return "values" if plural else "any value"
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (Union, types.UnionType):
        inner = [expected(a, plural) for a in args if a is not type(None)]
        return " or ".join(inner) + (" or null" if type(None) in args else "")
    if origin is Literal:
        return f"one of {', '.join(map(str, args))}"
    if origin is list or hint is list:
        items = expected(args[0], plural=True) if args else "values"
        return f"{'lists' if plural else 'a list'} of {items}"
    if is_mapping(hint) or (isinstance(hint, type) and dataclasses.is_dataclass(hint)):
        return "mappings" if plural else "a mapping"
    if hint in _NAMES:
        return _NAMES[hint][plural]
    name = getattr(hint, "__name__", str(hint))
    return f"{name} values" if plural else name


def kind_of(value: Any) -> str:
    if value is None:
        return "null"
    names = {bool: "boolean", int: "integer", float: "number", str: "string", list: "list", dict: "mapping"}
    return names.get(type(value), type(value).__name__)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _num(value: float) -> str:
    """A bound as a person writes it: 64, 0.5, 3600, 10^8, 1e-06."""
    if float(value).is_integer() and abs(value) < 1e15:
        exponent = len(str(int(value))) - 1
        return f"10^{exponent}" if value >= 10**6 and int(value) == 10**exponent else str(int(value))
    return f"{value:g}"


def _literal(hint: Any) -> Any:
    """The ``Literal`` inside ``hint`` (through ``X | None``), or None."""
    if typing.get_origin(hint) in (Union, types.UnionType):
        inner = [a for a in typing.get_args(hint) if a is not type(None)]
        hint = inner[0] if len(inner) == 1 else None
    return hint if typing.get_origin(hint) is Literal else None


def _member(value: Any, allowed: tuple[Any, ...]) -> bool:
    """``value in allowed`` without taking True for 1 or 1 for True."""
    return any(value == a and isinstance(value, bool) == isinstance(a, bool) for a in allowed)


def _choice_message(value: Any, allowed: tuple[Any, ...], key: str, where: Where | None) -> str:
    return f"{_at(where, key)}{key} is {value!r}; allowed values: {', '.join(map(str, allowed))}"


def _at(where: Where | None, key: str) -> str:
    return f"{where(key)}: " if where is not None else ""
