"""Config loading: every shipped file, defaults documented, nearest-key hints, types, --set."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from engines.registry import BACKENDS
from pipeline.config import SCHEMA, from_dict, load_config, parse_override, to_dict, valid_keys
from pipeline.config_schema import Config, ModelConfig, RuntimeConfig
from segcore.errors import ConfigError
from segcore.typed_values import allowed_values

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
    with pytest.raises(ConfigError, match=r"^--set model.device=gpu: model.device is 'gpu'; use auto, cpu, cuda or cuda:N$"):
        load_config(None, ["model.device=gpu"])
    with pytest.raises(ConfigError, match="model.device is 'cpu:1'"):
        load_config(None, ["model.device=cpu:1"])
    assert load_config(None, ["model.device=cuda:1"]).model.device == "cuda:1"


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
    config = dataclasses.replace(Config(), runtime=RuntimeConfig(batch_size=3))
    assert from_dict(to_dict(config)) == config



def _value_keys() -> list[str]:
    sections = {k for k in valid_keys() if "." not in k} | {"source.reconnect", "model.input"}
    return [k for k in valid_keys() if k not in sections]


CHOICE_KEYS = [k for k in _value_keys() if allowed_values(*SCHEMA.field(k)) is not None]


def test_the_schema_owns_every_choice_list() -> None:
    assert set(CHOICE_KEYS) == {
        "model.backend", "source.mode", "source.decoder", "source.rtsp_transport", "preprocess.resize",
        "postprocess.upsample", "postprocess.smoothing", "render.visualize", "render.device_path", "output.codec",
        "output.video_preset", "model.input.scale", "model.input.color",
    }
    assert allowed_values(*SCHEMA.field("model.backend")) == ("auto", *BACKENDS)  # the registry's names


@pytest.mark.parametrize("key", CHOICE_KEYS)
def test_every_choice_is_checked_with_the_allowed_values(key: str) -> None:
    allowed = allowed_values(*SCHEMA.field(key))
    assert allowed
    for value in allowed:
        loaded: object = load_config(None, [f"{key}={value}"])
        for part in key.split("."):
            loaded = getattr(loaded, part)
        assert loaded == value
    shown = ", ".join(str(a) for a in allowed)
    with pytest.raises(ConfigError, match=rf"^--set {key}=bogus: {key} is 'bogus'; allowed values: {shown}$"):
        load_config(None, [f"{key}=bogus"])


@pytest.mark.parametrize(("key", "value", "bound"), [
    ("model.threads", -1, r">= 0 and <= \d+ \(4 per CPU core; \d+ cores? here\)"),
    ("model.num_classes", 256, ">= 1 and <= 255"),
    ("source.decode_threads", 65, ">= 0 and <= 64"),
    ("source.reconnect.jitter", 1.5, ">= 0.0 and <= 1.0"),
    ("source.reconnect.max_attempts", -1, ">= 0 and <= 1000000"),
    ("source.reconnect.stall_timeout_s", 0, "> 0.0 and <= 3600.0"),
    ("source.reconnect.open_timeout_s", 0, "> 0.0 and <= 600.0"),
    ("source.reconnect.initial_backoff_s", -1, ">= 0.0 and <= 3600.0"),
    ("source.reconnect.max_backoff_s", 3601, ">= 0.0 and <= 3600.0"),
    ("postprocess.ema_alpha", 0, "> 0.0 and <= 1.0"),
    ("postprocess.majority_window", 0, ">= 1 and <= 64"),
    ("render.alpha", -0.5, ">= 0.0 and <= 1.0"),
    ("runtime.queue_size", 0, ">= 1 and <= 256"),
    ("runtime.batch_size", 2000, ">= 1 and <= 256"),
    ("runtime.batch_timeout_ms", -1, ">= 0.0 and <= 1000.0"),
    ("runtime.infer_workers", 1000, r">= 0 and <= \d+ \(4 per CPU core; \d+ cores? here\)"),
    ("runtime.max_frames", -1, ">= 0 and <= 1000000000000"),
])
def test_every_range_is_checked_with_its_bounds(key: str, value: float, bound: str) -> None:
    with pytest.raises(ConfigError, match=rf"^--set {key}={value}: {key} is {value}; it must be {bound}$"):
        load_config(None, [f"{key}={value}"])


@pytest.mark.parametrize("written", [".nan", ".inf", "-.inf", "1.0e+999"])
@pytest.mark.parametrize("key", ["render.alpha", "runtime.batch_timeout_ms", "source.reconnect.open_timeout_s"])
def test_nan_and_infinities_are_refused_with_the_range(key: str, written: str) -> None:
    with pytest.raises(ConfigError, match=rf"^--set {key}={re.escape(written)}: {key} is -?(nan|inf); it must be a finite number >=? 0.0 and <= "):
        load_config(None, [f"{key}={written}"])


def test_preprocess_size_has_a_range_per_side() -> None:
    assert load_config(None, ["preprocess.size=[16, 8192]"]).preprocess.size == [16, 8192]
    with pytest.raises(ConfigError, match=r"^--set preprocess.size=\[256, 100000\]: preprocess.size\[1\] is 100000; "
                                          r"it must be >= 16 and <= 8192$"):
        load_config(None, ["preprocess.size=[256, 100000]"])


def test_a_key_given_twice_in_a_file_is_refused_with_both_lines(tmp_path: Path) -> None:
    path = tmp_path / "twice.yaml"
    path.write_text("render:\n  alpha: 0.3\n  hud: false\n  alpha: 0.9\n")
    with pytest.raises(ConfigError, match=rf"^config file {re.escape(str(path))}, line 4, column 3: invalid YAML: "
                                          r"duplicate key 'alpha' \(first on line 2\); keep one of them$"):
        load_config(path)


def test_the_config_is_frozen() -> None:
    config = load_config(None, ["runtime.batch_size=2"])
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.runtime.batch_size = 3  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.model = config.model  # type: ignore[misc]
    changed = dataclasses.replace(config, runtime=dataclasses.replace(config.runtime, batch_size=3))
    assert changed.runtime.batch_size == 3 and config.runtime.batch_size == 2


@pytest.mark.parametrize(("settings", "message"), [
    (["model.options.spining=true"], r"unknown key 'model.options.spining'; did you mean 'spinning'\?"),
    (["model.options.optimisation=all"], r"unknown key 'model.options.optimisation'; did you mean 'optimization'\?"),
    (["model.options.zzzz=1"],
     "unknown key 'model.options.zzzz'; the onnxruntime backend takes: providers, optimization, spinning"),
    (["model.options.spinning=yes please"], r"model.options.spinning must be a boolean \(true/false\), got string"),
    (["model.options.optimization=most"], "model.options.optimization is 'most'; allowed values: all, extended, basic, none"),
    (["model.path=m.pt", "model.options.spinning=true"], "unknown key 'model.options.spinning'; the torch backend takes"),
    (["model.backend=tensorrt", "model.options.half=true"], "unknown key 'model.options.half'; the tensorrt backend"),
    (["model.path=m.engine", "model.options.tensorrt_module=x"], "unknown key 'model.options.tensorrt_module'"),
])
def test_model_options_are_checked_against_the_backend_the_model_runs_on(settings: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=rf"^--set {re.escape(settings[-1])}: {message}"):
        load_config(None, settings)


def test_valid_model_options_load_and_unknown_suffixes_are_left_to_the_model_check(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("model:\n  options: {spining: true}\n")
    with pytest.raises(ConfigError, match=rf"^config file {re.escape(str(path))}: unknown key 'model.options.spining'"):
        load_config(path)
    config = load_config(None, ["model.options={spinning: true, optimization: basic, providers: [CPUExecutionProvider]}"])
    assert config.model.options == {"spinning": True, "optimization": "basic", "providers": ["CPUExecutionProvider"]}
    torch_options = load_config(None, ["model.path=m.pt", "model.options={half: null, max_batch: 8, compile: false}"])
    assert torch_options.model.options["max_batch"] == 8
    assert load_config(None, ["model.path=m.bin", "model.options.anything=1"]).model.options == {"anything": 1}


def test_default_yaml_comments_list_every_choice_and_every_backend_option() -> None:
    comments = {}
    parents: list[tuple[int, str]] = []  # (indent, name) of the sections the line is inside
    for line in (CONFIGS / "default.yaml").read_text().splitlines():
        match = re.match(r"^(\s*)([a-z_]+):[^#]*#(.*)$", line)
        if match:
            indent = len(match.group(1))
            parents = [(i, n) for i, n in parents if i < indent]
            comments[".".join([*(n for _, n in parents), match.group(2)])] = match.group(3)
            parents.append((indent, match.group(2)))
    for key in CHOICE_KEYS:
        for value in allowed_values(*SCHEMA.field(key)) or ():
            assert re.search(rf"\b{re.escape(str(value))}\b", comments[key]), f"default.yaml: {key} does not name {value}"
    for name, backend in BACKENDS.items():
        assert re.search(rf"{name}: {', '.join(backend.options)}\b", comments["model.options"]), name


def _components() -> list[tuple[str, object, Callable[[Any], object]]]:
    from engines.metadata import InputSpec, OutputSpec
    from pipeline.config_schema import SourceConfig
    from pipeline.sinks.video import VideoSink
    from pipeline.sources.file import FileSource
    from pipeline.sources.network import NetworkSource
    from pipeline.stages.postprocess import PostprocessStage
    from pipeline.stages.preprocess import PreprocessStage
    from pipeline.stages.render import RenderStage
    from pipeline.stages.smoothing import EmaSmoother, MajorityVote

    logits = OutputSpec(kind="logits", dtype="float32")
    return [
        ("render.visualize", "squash", lambda v: RenderStage(["a"], [[0, 0, 0]], visualize=v)),
        ("render.alpha", 1.5, lambda v: RenderStage(["a"], [[0, 0, 0]], alpha=v)),
        ("postprocess.upsample", "cubic", lambda v: PostprocessStage(logits, 2, upsample=v)),
        ("postprocess.smoothing", "median", lambda v: PostprocessStage(logits, 2, smoothing=v)),
        ("postprocess.ema_alpha", 0.0, lambda v: EmaSmoother(v)),
        ("postprocess.majority_window", 0, lambda v: MajorityVote(v)),
        ("preprocess.resize", "squash", lambda v: PreprocessStage(InputSpec(height=8, width=8), (8, 8), v)),
        ("output.codec", "hevc", lambda v: VideoSink("unused.mp4", codec=v)),
        ("output.video_preset", "ludicrous", lambda v: VideoSink("unused.mp4", preset=v)),
        ("source.decoder", "ffmpeg", lambda v: FileSource("x.mp4", source_id="x", config=SourceConfig(decoder=v))),
        ("source.rtsp_transport", "sctp",
         lambda v: NetworkSource("rtsp://127.0.0.1/x", source_id="c", config=SourceConfig(rtsp_transport=v))),
    ]


@pytest.mark.parametrize(("key", "value", "make"), _components(), ids=[c[0] for c in _components()])
def test_a_component_built_in_code_refuses_a_bad_value_with_the_configs_error(
    key: str, value: object, make: Callable[[Any], object]
) -> None:
    with pytest.raises(ConfigError) as from_config:
        load_config(None, [f"{key}={value}"])
    with pytest.raises(ConfigError) as from_code:
        make(value)
    assert str(from_config.value) == f"--set {key}={value}: {from_code.value}"


@pytest.mark.parametrize(("model", "message"), [
    ({"options": {"spining": True}}, r"^unknown key 'model.options.spining'; did you mean 'spinning'\?$"),
    ({"options": {"spinning": "yes"}}, r"^model.options.spinning must be a boolean \(true/false\), got string 'yes'$"),
    ({"device": "gpu"}, r"^device is 'gpu'; use auto, cpu, cuda or cuda:N$"),
])
def test_a_pipeline_built_in_code_refuses_a_bad_model_setting_with_a_config_error(
    tiny_model: Path, model: dict[str, Any], message: str
) -> None:
    from pipeline import Pipeline
    from pipeline.sources.push import PushSource

    for workers in (0, 1):  # auto workers resolve the device first; one worker goes straight to the engine
        config = Config(model=ModelConfig(**model), runtime=RuntimeConfig(infer_workers=workers))
        with pytest.raises(ConfigError, match=message):
            Pipeline(PushSource("cam"), config=config, model=tiny_model)
