"""Choices (Literal types, choices metadata) and ranges (limits metadata), checked the same way in a
tree loaded from YAML and for one value on its own; NaN and infinities are never a number."""

from __future__ import annotations

import dataclasses
import math
import os
import re
from dataclasses import dataclass, field
from typing import Literal

import pytest

from segcore.errors import ConfigError
from segcore.typed_values import BOOL_AS_TEXT, check_value, choices, cpu_cores, limits, limits_of
from segcore.typed_yaml import Schema

Mode = Literal["fast", "slow"]
OWNED_ELSEWHERE = ("a", "b")


@dataclass(frozen=True)
class Section:
    mode: Mode = "fast"
    level: Literal["low", "high"] | None = None
    owned: str = field(default="a", metadata=choices(OWNED_ELSEWHERE))
    amp: Literal["auto", "true", "false"] = field(default="auto", metadata=BOOL_AS_TEXT)
    count: int = field(default=1, metadata=limits(low=1, high=64))
    share: float = field(default=0.5, metadata=limits(above=0.0, high=1.0))
    size: int | None = field(default=None, metadata=limits(low=0))


@dataclass(frozen=True)
class Root:
    section: Section = field(default_factory=Section)


SCHEMA = Schema(Root)


def test_values_inside_their_choices_and_ranges_load() -> None:
    config = SCHEMA.load(None, ["section.mode=slow", "section.level=high", "section.owned=b", "section.amp=true",
                                "section.count=64", "section.share=1", "section.size=0"])
    assert config.section == Section(mode="slow", level="high", owned="b", amp="true", count=64, share=1.0, size=0)
    assert SCHEMA.load(None, ["section.level=null", "section.size=null"]).section == Section()


@pytest.mark.parametrize(("override", "message"), [
    ("section.mode=medium", "section.mode is 'medium'; allowed values: fast, slow"),
    ("section.level=mid", "section.level is 'mid'; allowed values: low, high"),
    ("section.owned=c", "section.owned is 'c'; allowed values: a, b"),
    ("section.amp=maybe", "section.amp is 'maybe'; allowed values: auto, true, false"),
    ("section.mode=5", "section.mode is '5'; allowed values: fast, slow"),  # a number is read as its text first
    ("section.mode=[fast]", r"section.mode must be a string, got list \['fast'\]"),
    ("section.mode=null", "section.mode must be a string, got null"),
    ("section.count=0", "section.count is 0; it must be >= 1 and <= 64"),
    ("section.count=65", "section.count is 65; it must be >= 1 and <= 64"),
    ("section.share=0", r"section.share is 0; it must be > 0.0 and <= 1.0"),  # as written
    ("section.size=-1", "section.size is -1; it must be >= 0"),
    ("section.count=many", "section.count must be an integer, got string 'many'"),
])
def test_a_value_outside_its_choices_or_range_is_one_line_naming_where_key_and_what_is_allowed(
    override: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=rf"^--set {re.escape(override)}: {message}$"):
        SCHEMA.load(None, [override])


def test_check_value_on_its_own_has_the_same_message_without_a_place() -> None:
    assert check_value(3, int, "count", metadata=limits(low=1)) == 3
    assert check_value(1, float, "share") == 1.0 and isinstance(check_value(1, float, "share"), float)
    with pytest.raises(ConfigError, match=r"^mode is 'medium'; allowed values: fast, slow$"):
        check_value("medium", Mode, "mode")
    with pytest.raises(ConfigError, match=r"^count is 0; it must be >= 1$"):
        check_value(0, int, "count", metadata=limits(low=1))
    with pytest.raises(ConfigError, match=r"^file x: flag must be a boolean \(true/false\), got string 'yes'$"):
        check_value("yes", bool, "flag", where=lambda key: "file x")


def test_a_boolean_is_not_taken_for_a_number_choice() -> None:
    with pytest.raises(ConfigError, match="allowed values: 0, 1"):
        check_value(True, Literal[0, 1], "bit")
    assert check_value(1, Literal[0, 1], "bit") == 1


def test_check_allowed_checks_choices_and_ranges_of_a_key_but_not_its_type() -> None:
    SCHEMA.check_allowed("section.mode", "slow")
    SCHEMA.check_allowed("section.share", 0.25)
    with pytest.raises(ConfigError, match=r"^section.mode is 'medium'; allowed values: fast, slow$"):
        SCHEMA.check_allowed("section.mode", "medium")
    with pytest.raises(ConfigError, match=r"^section.owned is 'z'; allowed values: a, b$"):
        SCHEMA.check_allowed("section.owned", "z")
    with pytest.raises(ConfigError, match=r"^section.share is 2; it must be > 0.0 and <= 1.0$"):
        SCHEMA.check_allowed("section.share", 2)
    with pytest.raises(KeyError):
        SCHEMA.check_allowed("section", "x")  # a section, not a value


def test_field_gives_the_type_and_metadata_of_a_key() -> None:
    hint, metadata = SCHEMA.field("section.mode")
    assert hint == Mode and not metadata
    assert SCHEMA.field("section.owned")[1] == choices(OWNED_ELSEWHERE)
    with pytest.raises(KeyError):
        SCHEMA.field("section.nope")


def test_limits_take_one_lower_bound() -> None:
    with pytest.raises(TypeError):
        limits(low=0, above=0)


def test_a_frozen_tree_loads_and_round_trips() -> None:
    config = SCHEMA.load(None, ["section.count=3"])
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.section.count = 4  # type: ignore[misc]
    assert SCHEMA.build(dataclasses.asdict(config)) == config


def test_limits_take_one_upper_bound() -> None:
    with pytest.raises(TypeError):
        limits(high=1, below=1)
    with pytest.raises(TypeError):
        limits(high=1, per_core=1)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_nan_and_infinities_are_never_numbers_inside_a_range(value: float) -> None:
    with pytest.raises(ConfigError, match=r"^share is -?(nan|inf); it must be a finite number > 0.0 and <= 1.0$"):
        check_value(value, float, "share", metadata=limits(above=0.0, high=1.0))
    with pytest.raises(ConfigError, match=r"^size is -?(nan|inf); it must be a finite number >= 0$"):
        check_value(value, float, "size", metadata=limits(low=0))  # a lower bound alone let NaN and inf through
    with pytest.raises(ConfigError, match=r"^ratio is -?(nan|inf); it must be a finite number$"):
        check_value(value, float, "ratio")  # no range at all
    with pytest.raises(ConfigError, match=r"^scales\[1\] is -?(nan|inf); it must be a finite number$"):
        check_value([1.0, value], list[float], "scales")


def test_an_integer_too_large_for_a_float_is_refused_not_an_overflow() -> None:
    with pytest.raises(ConfigError, match=r"^share is 1{400}; it must be a finite number$"):
        check_value(int("1" * 400), float, "share")
    with pytest.raises(ConfigError, match=r"^share is 1{400}; it must be >= 0.0 and <= 1.0$"):
        check_value(int("1" * 400), float, "share", metadata=limits(low=0.0, high=1.0))


def test_a_range_on_a_list_holds_for_every_item() -> None:
    assert check_value([16, 8192], list[int], "size", metadata=limits(low=16, high=8192)) == [16, 8192]
    with pytest.raises(ConfigError, match=r"^size\[1\] is 9000; it must be >= 16 and <= 8192$"):
        check_value([16, 9000], list[int], "size", metadata=limits(low=16, high=8192))


def test_an_exclusive_upper_bound() -> None:
    assert check_value(0.999, float, "beta", metadata=limits(low=0.0, below=1.0)) == 0.999
    with pytest.raises(ConfigError, match=r"^beta is 1.0; it must be >= 0.0 and < 1.0$"):
        check_value(1.0, float, "beta", metadata=limits(low=0.0, below=1.0))


def test_a_bound_per_cpu_core_grows_with_the_cores_this_process_may_use() -> None:
    cores = cpu_cores()
    assert 1 <= cores <= (os.cpu_count() or 1)
    assert check_value(4 * cores, int, "workers", metadata=limits(low=0, per_core=4)) == 4 * cores
    plural = "s" if cores != 1 else ""
    with pytest.raises(ConfigError, match=rf"^workers is {4 * cores + 1}; it must be >= 0 and <= {4 * cores} "
                                          rf"\(4 per CPU core; {cores} core{plural} here\)$"):
        check_value(4 * cores + 1, int, "workers", metadata=limits(low=0, per_core=4))


@pytest.mark.parametrize(("metadata", "text"), [
    (limits(low=1, high=64), "1..64"),
    (limits(low=0.0, high=0.5), "0..0.5"),
    (limits(above=0.0, high=3600.0), "0 < x <= 3600"),
    (limits(low=0.0, below=1.0), "0 <= x < 1"),
    (limits(low=0, per_core=4), "0..4 per CPU core"),
    (limits(low=0, high=10**12), "0..10^12"),
    (limits(low=0), "0 <= x"),
])
def test_doc_text_is_how_the_config_files_write_a_range(metadata: dict, text: str) -> None:
    bound = limits_of(metadata)
    assert bound is not None and bound.doc_text() == text
