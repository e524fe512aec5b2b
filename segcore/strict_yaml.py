"""YAML read the one way every segstream YAML is read: safe, and strict about keys.

``yaml.safe_load`` keeps the last of two equal keys in one mapping and says nothing, so a config
that sets ``alpha`` twice, or a second ``render:`` section pasted below the first, runs with half
of what its author wrote. ``load_yaml`` refuses that with the line of the second key and of the
first. A merge key (``<<: *defaults``) still lets a mapping override what it merges in.

``yaml_error(exc, source)`` is the one-line text of any YAML error: "config file c.yaml, line 7,
column 3: invalid YAML: duplicate key 'alpha' (first on line 5); keep one of them".
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode

__all__ = ["DuplicateKeyError", "load_yaml", "yaml_error"]

_MERGE = "tag:yaml.org,2002:merge"


class DuplicateKeyError(ConstructorError):
    """A key given twice in one YAML mapping (``key``; ``first_line`` counts from 1)."""

    def __init__(self, key: Any, first_line: int, mark: yaml.Mark) -> None:
        super().__init__(None, None, f"duplicate key {key!r} (first on line {first_line}); keep one of them", mark)
        self.key = key
        self.first_line = first_line


class _StrictLoader(yaml.SafeLoader):
    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        first_line: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE:
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                if key in first_line:
                    raise DuplicateKeyError(key, first_line[key] + 1, key_node.start_mark)
                first_line[key] = key_node.start_mark.line
            except TypeError:
                continue  # an unhashable key: SafeLoader's own error names it
        return super().construct_mapping(node, deep=deep)


def load_yaml(text: str) -> Any:
    """The data in ``text`` (``yaml.safe_load``'s types); ``yaml.YAMLError`` (``DuplicateKeyError``
    for a key given twice in one mapping) when it is not valid."""
    return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass


def yaml_error(exc: yaml.YAMLError, source: str) -> str:
    """One line: ``source`` ("config file x.yaml"), the line and column when known, and the problem."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    where = f"{source}, line {mark.line + 1}, column {mark.column + 1}" if mark is not None else source
    return f"{where}: invalid YAML: {problem}"
