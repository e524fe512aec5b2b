"""The one YAML reader: safe_load's types, and a key given twice refused with both lines."""

from __future__ import annotations

import pytest
import yaml

from segcore.strict_yaml import DuplicateKeyError, load_yaml, yaml_error


def test_it_reads_what_safe_load_reads() -> None:
    text = "a: 1\nb: [1.5, .nan, null, yes]\nc: {d: x}\n"
    data = load_yaml(text)
    assert data.keys() == yaml.safe_load(text).keys() and data["c"] == {"d": "x"}
    assert load_yaml("") is None


@pytest.mark.parametrize(("text", "line", "column", "key", "first"), [
    ("a: 1\nb: 2\na: 3\n", 3, 1, "a", 1),  # the same key at the top
    ("render:\n  alpha: 0.3\nrender:\n  hud: false\n", 3, 1, "render", 1),  # a section pasted twice
    ("x:\n  y:\n    z: 1\n    z: 2\n", 4, 5, "z", 3),  # deep inside
    ("opts: {a: 1, a: 2}\n", 1, 14, "a", 1),  # a flow mapping on one line
    ("- {k: 1}\n- {k: 2, k: 3}\n", 2, 10, "k", 2),  # in a list item; the other item's k is no duplicate
])
def test_a_key_given_twice_is_refused_with_its_line_and_the_first(
    text: str, line: int, column: int, key: str, first: int
) -> None:
    with pytest.raises(DuplicateKeyError) as caught:
        load_yaml(text)
    assert caught.value.key == key and caught.value.first_line == first
    assert yaml_error(caught.value, "config file c.yaml") == (
        f"config file c.yaml, line {line}, column {column}: invalid YAML: duplicate key '{key}' "
        f"(first on line {first}); keep one of them"
    )


def test_a_merge_key_may_still_be_overridden() -> None:
    data = load_yaml("base: &b {a: 1, c: 2}\nthis:\n  <<: *b\n  a: 5\n")
    assert data["this"] == {"a": 5, "c": 2}


def test_a_syntax_error_names_its_line() -> None:
    with pytest.raises(yaml.YAMLError) as caught:
        load_yaml("a: [1, 2\nb: 3\n")
    assert yaml_error(caught.value, "f.yaml").startswith("f.yaml, line 2, column 2: invalid YAML: ")
