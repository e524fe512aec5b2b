"""Config loading: every shipped file, defaults documented, nearest-key hints, types, --set."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
import yaml

from pipeline.config import from_dict, load_config, parse_override, to_dict, valid_keys
from pipeline.config_schema import Config
from segcore.errors import ConfigError

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
RUN_CONFIGS = sorted(CONFIGS.glob("*.yaml"))  # configs/train/ holds training configs (their own schema)


def test_the_run_configs_are_there() -> None:
    names = {p.stem for p in RUN_CONFIGS}
    assert {"default", "dashcam", "surveillance", "webcam", "unet", "deeplabv3"} <= names


@pytest.mark.parametrize("path", RUN_CONFIGS, ids=lambda p: p.name)
def test_every_config_file_loads_and_validates(path: Path) -> None:
    config = load_config(path)
    assert isinstance(config, Config) and config.source.uris


def test_default_yaml_is_the_builtin_defaults() -> None:
    assert to_dict(load_config(CONFIGS / "default.yaml")) == to_dict(Config())


def test_default_yaml_lists_and_comments_every_key() -> None:
    text = (CONFIGS / "default.yaml").read_text()
    data = yaml.safe_load(text)

    def keys(node: dict, prefix: str = "") -> list[str]:
        out = []
        for k, v in node.items():
            out.append(prefix + k)
            if isinstance(v, dict) and k != "options":
                out.extend(keys(v, f"{prefix}{k}."))
        return out

    assert sorted(keys(data)) == sorted(valid_keys())
    for line in text.splitlines():
        if re.match(r"^\s*[a-z_]+:", line):
            assert "#" in line, f"default.yaml: key without a comment: {line.strip()}"


def test_unknown_key_in_a_file_names_the_nearest(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("model:\n  pth: m.onnx\n")
    with pytest.raises(ConfigError, match=rf"{re.escape(str(path))}: unknown key 'model.pth'; did you mean 'model.path'\?"):
        load_config(path)


@pytest.mark.parametrize(("override", "suggestion"), [
    ("modle.path=x", "model.path"),
    ("runtime.batchsize=2", "runtime.batch_size"),
    ("source.reconect.jitter=0.1", "source.reconnect.jitter"),
    ("render.visualise=mask", "render.visualize"),
])
def test_unknown_key_in_set_names_the_nearest(override: str, suggestion: str) -> None:
    with pytest.raises(ConfigError, match=rf"--set {re.escape(override)}: unknown key .*did you mean '{suggestion}'"):
        load_config(None, [override])


def test_unknown_key_without_a_near_one_lists_the_valid_keys() -> None:
    with pytest.raises(ConfigError, match="valid keys here: model, source"):
        load_config(None, ["zzzzzz=1"])


@pytest.mark.parametrize(("text", "key", "expected"), [
    ("model:\n  threads: two\n", "model.threads", "an integer"),
    ("runtime:\n  batch_size: true\n", "runtime.batch_size", "an integer"),
    ("render:\n  legend: 3\n", "render.legend", "a boolean"),
    ("render:\n  alpha: half\n", "render.alpha", "a number"),
    ("source:\n  uris: {a: 1}\n", "source.uris", "a list of strings"),
    ("render: 5\n", "render", "a mapping"),
])
def test_wrong_type_names_key_and_expected_type(tmp_path: Path, text: str, key: str, expected: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=rf"{re.escape(key)} .*{expected}"):
        load_config(path)


def test_bad_choice_lists_the_allowed_values() -> None:
    with pytest.raises(ConfigError, match="preprocess.resize is 'squash'; allowed values: stretch, letterbox"):
        load_config(None, ["preprocess.resize=squash"])
    with pytest.raises(ConfigError, match="render.alpha is 1.5; it must be >= 0.0 and <= 1.0"):
        load_config(None, ["render.alpha=1.5"])
    with pytest.raises(ConfigError, match="model.device"):
        load_config(None, ["model.device=gpu"])


def test_unreadable_yaml_is_one_line_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("model:\n  path: x\n   bad: [1\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message and re.search(r"line \d+", message)


def test_missing_config_file() -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config("/nonexistent/config.yaml")


def test_set_overrides_any_key_with_yaml_scalars() -> None:
    config = load_config(None, [
        "runtime.batch_size=4", "render.alpha=0.25", "render.legend=false", "model.num_classes=null",
        "preprocess.size=[256, 512]", "source.uris=clip.mp4", "source.reconnect.max_attempts=3",
        "model.options={optimization: basic}", "model.path=weights/m.onnx",
    ])
    assert config.runtime.batch_size == 4 and config.render.alpha == 0.25 and config.render.legend is False
    assert config.preprocess.size == [256, 512] and config.source.uris == ["clip.mp4"]
    assert config.source.reconnect.max_attempts == 3 and config.model.options == {"optimization": "basic"}
    assert config.model.path == "weights/m.onnx"


def test_set_wins_over_file_and_values(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("runtime:\n  batch_size: 2\nrender:\n  alpha: 0.1\n")
    config = load_config(path, ["runtime.batch_size=8"], values={"runtime.batch_size": 4, "render.visualize": "mask"})
    assert config.runtime.batch_size == 8 and config.render.alpha == 0.1 and config.render.visualize == "mask"


def test_parse_override() -> None:
    assert parse_override("a.b=3") == ("a.b", 3)
    assert parse_override("a.b=") == ("a.b", None)
    assert parse_override("a=x=y") == ("a", "x=y")
    with pytest.raises(ConfigError, match="key=value"):
        parse_override("novalue")


def test_webcam_index_may_be_written_as_a_number(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("source:\n  uris: [0, cam.mp4]\n")
    assert load_config(path).source.uris == ["0", "cam.mp4"]


def test_empty_file_and_empty_section_keep_defaults(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("# nothing\nrender:\n")
    assert to_dict(load_config(path)) == to_dict(Config())


def test_from_dict_round_trip() -> None:
    config = Config()
    config.runtime.batch_size = 3
    assert dataclasses.asdict(from_dict(to_dict(config))) == dataclasses.asdict(config)
