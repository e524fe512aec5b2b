"""Limits: a number outside its range, a NaN or an infinity, or a YAML key given twice is refused by
the real commands before anything starts.

Each case runs ``run_stream.py`` or ``python -m training.train`` as a user would and asserts: exit
2, one ``error:`` line naming where the value came from (the ``--set``, the file and line), the key,
the value and the range; nothing on stdout; no output file or folder; and for the run, no engine
(ONNX Runtime is never imported: ``python -X importtime`` lists every module the process loads).
Every child runs under a 4 GiB address-space limit, so that a setting that once allocated without
bound (1000 inference workers, a U-Net of depth 99) fails fast instead of taking the machine.

The structural tests below them hold the line for settings added later: every number of both
schemas has a range with both ends, and the documented config files write that range beside it.
"""

from __future__ import annotations

import inspect
import os
import re
import resource
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any

import pytest

from engines.metadata import sidecar_path
from pipeline.config import SCHEMA as RUN_SCHEMA
from segcore import typed_yaml
from segcore.typed_values import limits_of
from segcore.typed_yaml import Schema
from training.config import SCHEMA as TRAIN_SCHEMA

ROOT = Path(__file__).resolve().parents[2]
TINY_TRAINING = ROOT / "configs" / "train" / "tiny.yaml"
SMALL = "synthetic://street?seed=3&frames=4&size=320x180&fps=30"
MEMORY_CAP = 4 << 30
CORES = len(os.sched_getaffinity(0))  # the cores this process (and its children) may run on
PER_CORE = rf"\(4 per CPU core; {CORES} cores? here\)"


def _cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def _command(args: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-X", "importtime", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=timeout, preexec_fn=_cap_memory)


def _error_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stderr.splitlines() if not line.startswith("import time:")]


def _imported(result: subprocess.CompletedProcess[str], module: str) -> bool:
    return any(re.search(rf"\|\s*{re.escape(module)}$", line) for line in result.stderr.splitlines()
               if line.startswith("import time:"))


def assert_refused(result: subprocess.CompletedProcess[str], message: str) -> None:
    """Exit 2 with exactly the one line ``error: <message>`` (a regex) and nothing on stdout."""
    lines = _error_lines(result)
    assert result.returncode == 2, f"exit {result.returncode}: {lines[-5:]}"
    assert len(lines) == 1, lines[-5:]
    assert re.fullmatch(f"error: {message}", lines[0]), lines[0]
    assert result.stdout == ""


def run_stream(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """A short run that would write a video and a summary into ``tmp_path/out``."""
    out = tmp_path / "out"
    return _command([str(ROOT / "run_stream.py"), SMALL, "--max-frames", "2", "-o", str(out / "o.mp4"),
                     "--json", str(out / "s.json"), *args], cwd=tmp_path, timeout=90)


def assert_run_never_started(result: subprocess.CompletedProcess[str], tmp_path: Path) -> None:
    assert not (tmp_path / "out").exists(), sorted(p.name for p in (tmp_path / "out").iterdir())
    assert not _imported(result, "onnxruntime"), "an engine was loaded"


# ------------------------------------------------------------------------------------- run_stream.py


@pytest.mark.parametrize(("args", "message"), [
    # once: loaded engines until memory ran out, ignoring SIGTERM meanwhile
    (["--set", "runtime.infer_workers=1000"],
     rf"--set runtime.infer_workers=1000: runtime.infer_workers is 1000; it must be >= 0 and <= {4 * CORES} {PER_CORE}"),
    # once: hung starting threads
    (["--set", "model.threads=100000"],
     rf"--set model.threads=100000: model.threads is 100000; it must be >= 0 and <= {4 * CORES} {PER_CORE}"),
    # once: ran, with a NaN batch timeout / an endless open timeout
    (["--set", "runtime.batch_timeout_ms=.nan"],
     r"--set runtime.batch_timeout_ms=.nan: runtime.batch_timeout_ms is nan; it must be a finite number >= 0.0 "
     r"and <= 1000.0"),
    (["--set", "source.reconnect.open_timeout_s=.inf"],
     r"--set source.reconnect.open_timeout_s=.inf: source.reconnect.open_timeout_s is inf; it must be a finite "
     r"number > 0.0 and <= 600.0"),
    # once: refused only against the model, after reading it (a dynamic-size model took it, up to memory)
    (["--set", "preprocess.size=[100000, 100000]"],
     r"--set preprocess.size=\[100000, 100000\]: preprocess.size\[0\] is 100000; it must be >= 16 and <= 8192"),
    # once: the second spinning silently won
    (["--set", "model.options={spinning: true, spinning: false}"],
     r"--set model.options=\{spinning: true, spinning: false\}: duplicate key 'spinning'; keep one of them"),
    # refused before too, without saying the number must be finite
    (["--alpha", "nan"], r"--alpha nan: render.alpha is nan; it must be a finite number >= 0.0 and <= 1.0"),
    (["--alpha", "inf"], r"--alpha inf: render.alpha is inf; it must be a finite number >= 0.0 and <= 1.0"),
])
def test_a_run_setting_outside_its_range_is_refused_before_anything_starts(
    tmp_path: Path, args: list[str], message: str
) -> None:
    result = run_stream(tmp_path, *args)
    assert_refused(result, message)
    assert_run_never_started(result, tmp_path)


@pytest.mark.parametrize(("text", "message"), [
    # once: ran with the second alpha
    ("render:\n  alpha: 0.3\n  hud: false\n  alpha: 0.9\n",
     r"config file {path}, line 4, column 3: invalid YAML: duplicate key 'alpha' \(first on line 2\); keep one of them"),
    # once: the second section replaced the first whole
    ("render:\n  alpha: 0.3\nruntime:\n  queue_size: 2\nrender:\n  hud: false\n",
     r"config file {path}, line 5, column 1: invalid YAML: duplicate key 'render' \(first on line 1\); keep one of them"),
    # once: a NaN stall timeout (a lower bound alone let it through)
    ("source:\n  reconnect:\n    stall_timeout_s: .nan\n",
     r"config file {path}: source.reconnect.stall_timeout_s is nan; it must be a finite number > 0.0 and <= 3600.0"),
])
def test_a_run_config_file_with_a_key_twice_or_a_nan_is_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "run.yaml"
    path.write_text(text)
    result = run_stream(tmp_path, "--config", str(path))
    assert_refused(result, message.format(path=re.escape(str(path))))
    assert_run_never_started(result, tmp_path)


def _model_copy(model: Path, directory: Path) -> tuple[Path, Path]:
    directory.mkdir()
    copy = directory / model.name
    copy.write_bytes(model.read_bytes())
    found = sidecar_path(model)
    assert found is not None
    sidecar = directory / found.name
    sidecar.write_text(found.read_text())
    return copy, sidecar


def test_a_model_sidecar_with_a_key_twice_is_refused(tiny_model: Path, tmp_path: Path) -> None:
    model, sidecar = _model_copy(tiny_model, tmp_path / "model")
    lines = sidecar.read_text().splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("name:")) + 1
    sidecar.write_text("\n".join(lines) + "\nname: another\n")  # once: the second name silently won
    result = run_stream(tmp_path, "--model", str(model))
    assert_refused(result, rf"model sidecar {re.escape(str(sidecar))}, line {len(lines) + 1}, column 1: invalid YAML: "
                           rf"duplicate key 'name' \(first on line {first}\); keep one of them")
    assert_run_never_started(result, tmp_path)


def test_a_model_sidecar_with_a_nan_mean_is_refused(tiny_logits_model: Path, tmp_path: Path) -> None:
    model, sidecar = _model_copy(tiny_logits_model, tmp_path / "model")
    text, count = re.subn(r"mean: \[[^\]]*\]", "mean: [.nan, 0.5, 0.5]", sidecar.read_text())
    assert count == 1
    sidecar.write_text(text)  # once: every input became NaN, and so did every class score
    result = run_stream(tmp_path, "--model", str(model))
    assert_refused(result, rf"{re.escape(str(sidecar))}: input.mean is \[nan, 0.5, 0.5\]; it must be 3 finite "
                           r"numbers \(R, G, B\)")
    assert_run_never_started(result, tmp_path)


# --------------------------------------------------------------------------------- training.train


def train(tmp_path: Path, *args: str, config: Path = TINY_TRAINING) -> subprocess.CompletedProcess[str]:
    """A short training run that would write into ``tmp_path/run`` and cache into ``tmp_path/cache``."""
    return _command(["-m", "training.train", "--config", str(config), "--set", f"output.dir={tmp_path / 'run'}",
                     "--set", f"data.cache_dir={tmp_path / 'cache'}", "--set", "schedule.steps=2",
                     "--set", "schedule.warmup_steps=1", "--set", "data.val=[]", *args], cwd=ROOT, timeout=180)


def assert_training_never_started(tmp_path: Path) -> None:
    assert not (tmp_path / "run").exists(), "the output folder (config.yaml) was written"
    assert not (tmp_path / "cache").exists(), "data was rendered"


@pytest.mark.parametrize(("args", "message"), [
    # once: allocated until memory ran out (the config.yaml already written)
    (["--set", "model.kwargs.depth=99"],
     r"--set model.kwargs.depth=99: model.kwargs.depth is 99; it must be >= 1 and <= 8 \(unet\)"),
    (["--set", "model.kwargs={depth: 8, base_channels: 64}"],
     r"--set model.kwargs=\{depth: 8, base_channels: 64\}: model.kwargs.depth is 8 with base_channels 64: the widest "
     r"layer would have 16384 channels; base_channels × 2\^depth must be <= 2048: lower depth or base_channels "
     r"\(unet\)"),
    # once: a ZeroDivisionError traceback after the first step
    (["--set", "train.log_every=0"],
     r"--set train.log_every=0: train.log_every is 0; it must be >= 1 and <= 100000000"),
    # once: torch's "Invalid learning rate: nan" traceback
    (["--set", "optim.lr=.nan"], r"--set optim.lr=.nan: optim.lr is nan; it must be a finite number > 0.0 and <= 10.0"),
    # once: NumPy's "expected non-negative integer" traceback
    (["--set", "train.seed=-1"], r"--set train.seed=-1: train.seed is -1; it must be >= 0 and <= 4294967295"),
    # once: a segmentation fault starting threads
    (["--set", "train.threads=100000"],
     rf"--set train.threads=100000: train.threads is 100000; it must be >= 0 and <= {4 * CORES} {PER_CORE}"),
])
def test_a_training_setting_outside_its_range_is_refused_before_anything_is_written(
    tmp_path: Path, args: list[str], message: str
) -> None:
    assert_refused(train(tmp_path, *args), message)
    assert_training_never_started(tmp_path)


def test_a_training_config_with_a_key_twice_is_refused(tmp_path: Path) -> None:
    lines = TINY_TRAINING.read_text().splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("schedule:")) + 1
    config = tmp_path / "twice.yaml"
    config.write_text("\n".join(lines) + "\nschedule:\n  steps: 1\n")  # once: the second section silently won
    result = train(tmp_path, config=config)
    assert_refused(result, rf"training config {re.escape(str(config))}, line {len(lines) + 1}, column 1: invalid YAML: "
                           rf"duplicate key 'schedule' \(first on line {first}\); keep one of them")
    assert_training_never_started(tmp_path)


def test_a_dataset_class_list_with_a_key_twice_is_refused(tmp_path: Path) -> None:
    dataset = tmp_path / "dataset"
    (dataset / "images").mkdir(parents=True)
    (dataset / "masks").mkdir()
    classes = dataset / "classes.yaml"
    classes.write_text("names: [background, road]\nnames: [background, road, car]\n")  # once: the second won
    result = train(tmp_path, "--set", f"data.train=folder:{dataset}")
    assert_refused(result, rf"{re.escape(str(classes))}, line 2, column 1: invalid YAML: duplicate key 'names' "
                           r"\(first on line 1\); keep one of them")
    assert not (tmp_path / "cache").exists()  # the trainer writes its config.yaml before it opens the data


# ------------------------------------------------------------------- every number has a range


def _numeric_keys(schema: Schema[Any]) -> list[str]:
    keys = []
    for key in typed_yaml.valid_keys(schema.root):
        try:
            hint, _ = schema.field(key)
        except KeyError:
            continue  # a section
        inner = {a for a in typing.get_args(hint) if a is not type(None)} or {hint}
        inner |= {b for a in inner for b in typing.get_args(a)}  # list[int] → int
        if inner & {int, float}:
            keys.append(key)
    return keys


RUN_NUMBERS = _numeric_keys(RUN_SCHEMA)
TRAIN_NUMBERS = _numeric_keys(TRAIN_SCHEMA)


@pytest.mark.parametrize(("schema", "key"), [(RUN_SCHEMA, k) for k in RUN_NUMBERS]
                         + [(TRAIN_SCHEMA, k) for k in TRAIN_NUMBERS])
def test_every_number_of_both_schemas_has_a_range_with_both_ends(schema: Schema[Any], key: str) -> None:
    bound = limits_of(schema.field(key)[1])
    assert bound is not None and bound.low is not None and bound.high is not None, f"{key} has no range"


def _comment_of(text: str, key: str) -> str:
    """The comment on ``key``'s line of a YAML file, with the comment-only lines that continue it."""
    *sections, name = key.split(".")
    lines = text.splitlines()
    start = 0
    for depth, part in enumerate([*sections, name]):
        start = next(i for i in range(start, len(lines))
                     if re.match(rf"^{' ' * (2 * depth)}{re.escape(part)}:", lines[i]))
    comment = [lines[start].partition("#")[2]]
    for line in lines[start + 1:]:
        if not re.match(r"^\s+#", line):
            break
        comment.append(line.partition("#")[2])
    return " ".join(comment)


@pytest.mark.parametrize(("path", "schema", "keys"), [
    (ROOT / "configs" / "default.yaml", RUN_SCHEMA, RUN_NUMBERS),
    (ROOT / "configs" / "train" / "lraspp.yaml", TRAIN_SCHEMA, TRAIN_NUMBERS),
], ids=["default.yaml", "train/lraspp.yaml"])
def test_the_documented_configs_write_every_range_beside_its_key(path: Path, schema: Schema[Any], keys: list[str]) -> None:
    text = path.read_text()
    missing = []
    for key in keys:
        bound = limits_of(schema.field(key)[1])
        assert bound is not None
        if bound.doc_text() not in _comment_of(text, key):
            missing.append(f"{key}: {bound.doc_text()}")
    assert not missing, f"{path.name} does not write these ranges beside their keys: {missing}"


def test_every_model_builder_argument_has_a_range_or_choices() -> None:
    from engines.models import _REGISTRY
    from engines.models.arguments import ARGUMENTS

    assert set(ARGUMENTS) == set(_REGISTRY)
    for name, builder in _REGISTRY.items():
        taken = set(inspect.signature(builder).parameters) - {"num_classes"}
        assert taken == set(ARGUMENTS[name]), name
