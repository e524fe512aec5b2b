"""The shared YAML → dataclass loader: types, nearest-key hints at depth, overrides, error places."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from segcore.errors import ConfigError
from segcore.typed_yaml import BOOL_AS_TEXT, Places, Schema, valid_keys


@dataclass
class Inner:
    value: int = 1
    ratio: float = 0.5
    label: str | None = None


@dataclass
class Outer:
    inner: Inner = field(default_factory=Inner)
    flag: bool = False
    sizes: list[int] = field(default_factory=lambda: [2, 3])
    scales: list[float] = field(default_factory=lambda: [1.0])
    names: list[str] = field(default_factory=lambda: ["a"])
    extra: Inner | None = None


@dataclass
class Root:
    outer: Outer = field(default_factory=Outer)
    options: dict[str, Any] = field(default_factory=dict)
    limit: int | None = None
    mode: str = field(default="auto", metadata=BOOL_AS_TEXT)
    anything: Any = None


def _check(config: Root, where: Places) -> None:
    if config.outer.inner.value < 0:
        raise ConfigError(f"{where('outer.inner.value')}: outer.inner.value is {config.outer.inner.value}; use >= 0")


SCHEMA = Schema(Root, check=_check, example="outer.flag=true")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


def test_nested_sections_optional_lists_and_dicts_from_a_file(tmp_path: Path) -> None:
    path = write(tmp_path, """
outer:
  inner: {value: 7, ratio: 2, label: car}
  flag: true
  sizes: [4, 5]
  scales: [1, 0.25]
  names: cam.mp4
  extra: {value: 3}
options: {threads: 2, nested: {a: [1]}}
limit: null
""")
    config = SCHEMA.load(path)
    assert config.outer.inner == Inner(value=7, ratio=2.0, label="car")
    assert isinstance(config.outer.inner.ratio, float)  # an integer is accepted for a float
    assert config.outer.flag is True and config.outer.sizes == [4, 5] and config.outer.scales == [1.0, 0.25]
    assert config.outer.names == ["cam.mp4"]  # a single string where a list of strings is expected
    assert config.outer.extra == Inner(value=3)
    assert config.options == {"threads": 2, "nested": {"a": [1]}} and config.limit is None


def test_missing_keys_and_empty_sections_keep_the_defaults(tmp_path: Path) -> None:
    assert SCHEMA.load(write(tmp_path, "# nothing\nouter:\n")) == Root()
    assert SCHEMA.load(None) == Root()


@pytest.mark.parametrize(("text", "message"), [
    ("outer:\n  inner:\n    value: yes\n", "outer.inner.value must be an integer, got boolean True"),
    ("outer:\n  inner:\n    value: true\n", "outer.inner.value must be an integer, got boolean True"),
    ("outer:\n  inner:\n    value: 1.5\n", "outer.inner.value must be an integer, got number 1.5"),
    ("outer:\n  flag: 1\n", r"outer.flag must be a boolean \(true/false\), got integer 1"),
    ("outer:\n  inner:\n    ratio: true\n", "outer.inner.ratio must be a number, got boolean True"),
    ("outer:\n  sizes: [4, true]\n", r"outer.sizes\[1\] must be an integer, got boolean True"),
    ("outer:\n  scales: 0.5\n", "outer.scales must be a list of numbers, got number 0.5"),
    ("outer:\n  names: [a, [b]]\n", r"outer.names\[1\] must be a string, got list \['b'\]"),
    ("outer:\n  inner:\n    label: [x]\n", r"outer.inner.label must be a string or null, got list \['x'\]"),
    ("limit: four\n", "limit must be an integer or null, got string 'four'"),
    ("options: [1]\n", r"options must be a mapping, got list \[1\]"),
    ("options: {1: x}\n", "options must have string keys, got integer 1"),
    ("outer:\n  inner: 5\n", "outer.inner is a section; expected a mapping, got integer"),
    ("outer:\n  extra: 5\n", "outer.extra is a section; expected a mapping, got integer"),
    ("outer:\n  flag: null\n", "outer.flag must be a boolean .*, got null"),
])
def test_wrong_type_names_the_file_the_key_and_the_expected_type(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=rf"^config file {re.escape(str(path))}: {message}$"):
        SCHEMA.load(path)


def test_unknown_key_at_depth_two_names_the_nearest(tmp_path: Path) -> None:
    path = write(tmp_path, "outer:\n  inner:\n    valeu: 3\n")
    with pytest.raises(ConfigError, match=rf"^config file {re.escape(str(path))}: "
                       r"unknown key 'outer.inner.valeu'; did you mean 'outer.inner.value'\?$"):
        SCHEMA.load(path)
    by_name = Schema(Root, suggest="name")  # names a key of the same section alone
    with pytest.raises(ConfigError, match=r"unknown key 'outer.inner.valeu'; did you mean 'value'\?$"):
        by_name.load(path)
    with pytest.raises(ConfigError, match=r"unknown key 'outr.inner.value'; did you mean 'outer.inner.value'\?$"):
        by_name.load(None, ["outr.inner.value=3"])  # another section: the whole key


def test_unknown_key_without_a_near_one_lists_the_keys_of_its_section() -> None:
    with pytest.raises(ConfigError, match=r"unknown key 'outer.inner.zzzzzzzz'; valid keys here: "
                       r"outer.inner.value, outer.inner.ratio, outer.inner.label$"):
        SCHEMA.load(None, ["outer.inner.zzzzzzzz=1"])
    with pytest.raises(ConfigError, match="valid keys here: outer, options, limit, mode, anything$"):
        SCHEMA.build({"qqqqqqqq": 1})


def test_yaml_syntax_error_is_one_line_with_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "outer:\n  flag: true\n   sizes: [1\n")
    with pytest.raises(ConfigError) as info:
        SCHEMA.load(path)
    message = str(info.value)
    assert "\n" not in message
    assert re.match(rf"config file {re.escape(str(path))}, line 3, column \d+: invalid YAML: ", message), message


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="expected a mapping of sections at the top, got list$"):
        SCHEMA.load(write(tmp_path, "- a\n- b\n"))


def test_missing_file_and_named_kind_of_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^training config .*nope.yaml does not exist$"):
        Schema(Root, what="training config").load(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="is a directory"):
        SCHEMA.load(tmp_path)


def test_overrides_overwrite_and_create_nested_keys(tmp_path: Path) -> None:
    path = write(tmp_path, "outer:\n  inner: {value: 7, ratio: 0.1}\noptions: {threads: 2}\n")
    config = SCHEMA.load(path, [
        "outer.inner.value=9",  # overwrites the file's value
        "outer.inner.label=bus",  # a key the file does not set
        "outer.extra.ratio=0.75",  # creates an optional section that was null
        "outer={flag: true, sizes: [8]}",  # a mapping for a section is merged into it
        "options.threads=4", "options.mode.kind=fast",  # keys inside a mapping field are created
        "limit=3", "outer.scales=[2, 3]", "anything={x: 1}",
    ])
    assert config.outer.inner == Inner(value=9, ratio=0.1, label="bus")
    assert config.outer.extra == Inner(ratio=0.75)
    assert config.outer.flag is True and config.outer.sizes == [8] and config.outer.scales == [2.0, 3.0]
    assert config.options == {"threads": 4, "mode": {"kind": "fast"}}
    assert config.limit == 3 and config.anything == {"x": 1}


def test_later_layers_win_and_values_are_not_shared(tmp_path: Path) -> None:
    path = write(tmp_path, "outer:\n  inner: {value: 7}\n")
    given = {"threads": 1}
    config = SCHEMA.load(path, ["outer.inner.value=8", "options.more=2"],
                         values={"outer.inner.value": 5, "options": given, "limit": 4})
    assert config.outer.inner.value == 8 and config.limit == 4
    assert config.options == {"threads": 1, "more": 2} and given == {"threads": 1}


def test_override_of_a_non_existent_key_names_the_nearest() -> None:
    with pytest.raises(ConfigError, match=r"^--set outer.inner.valeu=3: unknown key 'outer.inner.valeu'; "
                       r"did you mean 'outer.inner.value'\?$"):
        SCHEMA.load(None, ["outer.inner.valeu=3"])
    with pytest.raises(ConfigError, match=r"^--set outer.flg=true: .*did you mean 'outer.flag'\?$"):
        SCHEMA.load(None, ["outer.flg=true"])
    with pytest.raises(ConfigError, match=r"^--set outer.flag.x=1: outer.flag is a value, not a section$"):
        SCHEMA.load(None, ["outer.flag.x=1"])
    with pytest.raises(ConfigError, match=r"^--set outer=3: outer is a section; expected a mapping, got integer$"):
        SCHEMA.load(None, ["outer=3"])


def test_errors_name_where_the_value_came_from(tmp_path: Path) -> None:
    path = write(tmp_path, "outer:\n  inner: {value: -1}\n  sizes: [x]\n")
    with pytest.raises(ConfigError, match=r"^--set outer.inner.ratio=half: outer.inner.ratio must be a number, "
                       r"got string 'half'$"):
        SCHEMA.load(None, ["outer.inner.ratio=half"])
    with pytest.raises(ConfigError, match=rf"^config file {re.escape(str(path))}: outer.sizes\[0\] must be an integer"):
        SCHEMA.load(path)
    # the value check (the schema's own) also learns where each value came from
    with pytest.raises(ConfigError, match=rf"^config file {re.escape(str(path))}: outer.inner.value is -1; use >= 0$"):
        SCHEMA.load(path, ["outer.sizes=[1]"])
    with pytest.raises(ConfigError, match=r"^--set outer.inner.value=-2: outer.inner.value is -2; use >= 0$"):
        SCHEMA.load(path, ["outer.sizes=[1]", "outer.inner.value=-2"])
    with pytest.raises(ConfigError, match=r"^setting options: options must be a mapping"):
        SCHEMA.load(None, values={"options": [1]})


def test_parse_override_reads_yaml_scalars() -> None:
    assert SCHEMA.parse_override("a.b=3") == ("a.b", 3)
    assert SCHEMA.parse_override("a.b=yes") == ("a.b", True)
    assert SCHEMA.parse_override(" a.b =") == ("a.b", None)
    assert SCHEMA.parse_override("a=x=y") == ("a", "x=y")
    assert SCHEMA.parse_override("a=[1, 2") == ("a", "[1, 2")  # not YAML: the plain string
    with pytest.raises(ConfigError, match=r"^--set novalue: expected key=value, e.g. --set outer.flag=true$"):
        SCHEMA.parse_override("novalue")


def test_bool_as_text_field_and_numbers_as_strings() -> None:
    assert SCHEMA.load(None, ["mode=true"]).mode == "true"
    assert SCHEMA.load(None, ["mode=false"]).mode == "false"
    assert SCHEMA.load(None, ["outer.names=[0, cam]"]).outer.names == ["0", "cam"]
    with pytest.raises(ConfigError, match=r"outer.names\[0\] must be a string, got boolean True"):
        SCHEMA.load(None, ["outer.names=[true]"])  # only a field marked BOOL_AS_TEXT takes a boolean as text


def test_valid_keys_lists_sections_and_leaves() -> None:
    keys = valid_keys(Root)
    assert keys[:3] == ["outer", "outer.inner", "outer.inner.value"]
    assert {"outer.extra.label", "options", "anything"} <= set(keys)
    assert "options.threads" not in keys


def test_build_round_trips_the_defaults() -> None:
    config = Root(limit=2)
    config.outer.inner.label = "x"
    assert SCHEMA.build(SCHEMA.defaults()) == Root()
    assert SCHEMA.build(dataclasses.asdict(config)) == config
    with pytest.raises(ConfigError, match="^config: the top level must be a mapping, got list$"):
        SCHEMA.build([1])
