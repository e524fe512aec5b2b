"""Bad input to every command, run as a user runs it: one ``error:`` line, the right exit code,
no traceback (unless ``--debug``), and nothing written.

Every command here is a real subprocess of this checkout (``python -m MODULE`` with PYTHONPATH at
the repository root). A read-only folder is a read-only tmpfs mounted for the test: the tests run as
root, which ignores permission bits, and CI runs as root too. Without root or password-less sudo
the tests that mount fail, saying so; they do not skip.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = ROOT / "engines" / "weights" / "lraspp_mbv3_street.onnx"
TINY_TRAIN = ROOT / "configs" / "train" / "tiny.yaml"
SMALL_EXPORT = ["--model", "lraspp_mobilenet_v3_small", "--num-classes", "19", "--input-size", "64x64"]


def command(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """``python ARGS`` from the repository root, as a user runs it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


def assert_one_error(result: subprocess.CompletedProcess[str], *needles: str, code: int = 2) -> str:
    """The command ended with ``code`` and said so in one ``error:`` line holding every needle."""
    assert result.returncode == code, (result.returncode, result.stderr[-3000:])
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr[-3000:]
    assert lines[0].startswith("error: "), lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


@pytest.fixture
def a_file(tmp_path: Path) -> Path:
    path = tmp_path / "a_file"
    path.write_text("keep me\n")
    return path


# ----------------------------------------------------------------------------- every command, one path

EVERY_COMMAND = [
    ["-m", "engines.models.export"], ["-m", "engines.models"], ["-m", "engines.build"], ["-m", "training.train"],
    ["-m", "training.evaluate"], ["-m", "training.colour_baseline"], ["-m", "bench"], ["-m", "bench.soak"],
    ["-m", "tools.int8_probe"], ["-m", "tools.model_card_numbers"], ["-m", "tools.torchvision_fixture"],
    ["-m", "segstream", "export"], ["-m", "streetsim"], ["-m", "bench.demo_speed"], ["-m", "engines.fetch"],
]  # run_stream.py has said usage errors in one line all along (tests/segstream/test_run.py)


@pytest.mark.parametrize("cmd", EVERY_COMMAND, ids=lambda cmd: " ".join(cmd).removeprefix("-m "))
def test_a_usage_error_is_one_line_and_exit_2_in_every_command(cmd: list[str]) -> None:
    line = assert_one_error(command(*cmd, "--no-such-option"))  # or a missing required argument, said first
    assert "--help" in line


def test_every_command_takes_debug() -> None:
    result = command("-m", "segstream", "export", "--help")
    assert result.returncode == 0 and "--debug" in result.stdout


def test_debug_prints_the_traceback_before_the_line() -> None:
    result = command("-m", "engines.models.export", *SMALL_EXPORT, "--opset", "5", "--out", "/nonexistent/x", "--debug")
    assert result.returncode == 2
    assert "Traceback (most recent call last)" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: ONNX opset 5")


BUGGY_COMMAND = """
import sys
from segcore.exits import run_command
def main(argv):
    raise RuntimeError("the bug, at rtsp://user:secret@cam/x")
sys.exit(run_command(main))
"""


def test_an_unexpected_exception_is_one_line_that_says_bug_and_how_to_see_the_traceback() -> None:
    result = command("-c", BUGGY_COMMAND)
    line = assert_one_error(result, "RuntimeError", "the bug", "bug in segstream", "--debug", code=1)
    assert "secret" not in line
    shown = command("-c", BUGGY_COMMAND, "--debug")
    assert shown.returncode == 1 and "Traceback (most recent call last)" in shown.stderr
    assert "secret" not in shown.stderr


def test_ctrl_c_exits_130_with_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.soak", "--minutes", "2", "--interval", "0.5", "--out", str(tmp_path / "soak"),
         "synthetic://street?seed=1&frames=0&size=160x96&fps=15"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and " rss " not in process.stdout.readline():  # the first sample
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
        process.send_signal(signal.SIGINT)
        _out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, err
    assert "Traceback" not in err and err.strip().splitlines() == ["interrupted"]


# ----------------------------------------------------------------------------- engines.models.export


@pytest.mark.parametrize(("args", "needles"), [
    (["--model", "bogus", "--num-classes", "19"], ["--model", "'bogus'", "lraspp_mobilenet_v3_large"]),
    (["--model", "unet", "--num-classes", "0"], ["--num-classes", "0", "at least 1"]),
    (["--model", "unet", "--num-classes", "3", "--input-size", "0x0"], ["--input-size", "0x0"]),
    ([*SMALL_EXPORT, "--opset", "5"], ["opset 5", "from 18 to"]),
    ([*SMALL_EXPORT, "--opset", "17"], ["opset 17", "from 18 to"]),
], ids=["unknown-model", "zero-classes", "zero-size", "opset-5", "opset-17"])
def test_export_refuses_bad_arguments_before_writing_anything(tmp_path: Path, args: list[str], needles: list[str]) -> None:
    out = tmp_path / "models"
    assert_one_error(command("-m", "engines.models.export", *args, "--out", str(out)), *needles)
    assert not out.exists()


def test_export_out_that_is_a_file_is_refused_and_kept(a_file: Path) -> None:
    assert_one_error(command("-m", "engines.models.export", *SMALL_EXPORT, "--out", str(a_file)),
                     str(a_file), "is a file, not a folder")
    assert a_file.read_text() == "keep me\n"


def test_export_into_a_read_only_folder_is_refused(read_only_folder: Path) -> None:
    assert_one_error(command("-m", "engines.models.export", *SMALL_EXPORT, "--out", str(read_only_folder / "m")),
                     str(read_only_folder), "Read-only file system")


def test_export_sidecar_records_the_opset_the_file_has(tmp_path: Path) -> None:
    """Opset 26 goes through the ONNX C API's converter, which used to announce itself on stderr."""
    import onnx
    import yaml

    result = command("-m", "engines.models.export", *SMALL_EXPORT, "--opset", "26", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    model = onnx.load(str(tmp_path / "lraspp_mobilenet_v3_small.onnx"), load_external_data=False)
    in_file = {entry.domain: entry.version for entry in model.opset_import}[""]
    sidecar = yaml.safe_load((tmp_path / "lraspp_mobilenet_v3_small.yaml").read_text())
    assert in_file == sidecar["opset"] == 26
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lraspp_mobilenet_v3_small.onnx", "lraspp_mobilenet_v3_small.yaml"]


def test_a_folder_given_as_a_checkpoint_is_called_a_folder(tmp_path: Path) -> None:
    folder = tmp_path / "best.pt"
    folder.mkdir()
    line = assert_one_error(command("-m", "engines.models.export", "--checkpoint", str(folder), "--out", str(tmp_path / "o")),
                            str(folder), "is a folder")
    assert "does not exist" not in line


def test_models_listing_refuses_zero_classes() -> None:
    assert_one_error(command("-m", "engines.models", "--num-classes", "0"), "--num-classes", "at least 1")


# ----------------------------------------------------------------------------- folders as model files


def test_a_folder_given_as_an_onnx_model_is_called_a_folder(tmp_path: Path) -> None:
    folder = tmp_path / "model.onnx"
    folder.mkdir()
    (folder / "inner.onnx").write_bytes(b"x")
    line = assert_one_error(command("-m", "training.evaluate", "--model", str(folder), "--data",
                                    "synthetic://street?frames=2&size=160x96", "--json", str(tmp_path / "e.json")),
                            str(folder), "is a folder", "inner.onnx")
    assert "does not exist" not in line
    line = assert_one_error(command("-m", "engines.build", str(folder)), str(folder), "is a folder")
    assert "does not exist" not in line


# ----------------------------------------------------------------------------- training.train


def test_train_into_a_read_only_output_dir_is_refused(read_only_folder: Path) -> None:
    result = command("-m", "training.train", "--config", str(TINY_TRAIN), "--set", f"output.dir={read_only_folder / 'run'}")
    assert_one_error(result, "output.dir", str(read_only_folder), "Read-only file system")


def test_train_writes_nothing_when_the_config_is_wrong(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = command("-m", "training.train", "--config", str(TINY_TRAIN), "--set", f"output.dir={out}",
                     "--set", f"data.train=folder:{tmp_path / 'missing'}")
    assert_one_error(result, "missing")
    assert not out.exists()


def test_train_leaves_an_existing_run_alone_when_the_resume_is_wrong(tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.yaml").write_text("the previous run's config\n")
    folder = tmp_path / "last.pt"
    folder.mkdir()
    result = command("-m", "training.train", "--config", str(TINY_TRAIN), "--set", f"output.dir={out}",
                     "--resume", str(folder))
    line = assert_one_error(result, str(folder), "is a folder")
    assert "does not exist" not in line
    assert [p.name for p in out.iterdir()] == ["config.yaml"]
    assert (out / "config.yaml").read_text() == "the previous run's config\n"


# ----------------------------------------------------------------------------- bench


@pytest.fixture
def random_bytes_clip(tmp_path: Path) -> Path:
    clip = tmp_path / "noise.mp4"
    clip.write_bytes(os.urandom(64 * 1024))
    return clip


@pytest.mark.parametrize(("clip", "needles"), [
    ("/nonexistent.mp4", ["/nonexistent.mp4", "does not exist"]),
    ("noise", ["noise.mp4", "cannot be decoded"]),
], ids=["missing-clip", "random-bytes-clip"])
def test_bench_refuses_a_clip_it_cannot_read(tmp_path: Path, random_bytes_clip: Path, clip: str, needles: list[str]) -> None:
    out = tmp_path / "bench"
    path = str(random_bytes_clip) if clip == "noise" else clip
    assert_one_error(command("-m", "bench", "--quick", "--mode", "engine", "--model", str(BUNDLED), "--clip", path,
                             "--out", str(out)), *needles)
    assert not out.exists()


def test_bench_into_a_read_only_folder_is_refused(read_only_folder: Path) -> None:
    assert_one_error(command("-m", "bench", "--quick", "--mode", "engine", "--model", str(BUNDLED),
                             "--out", str(read_only_folder / "bench")), "--out", str(read_only_folder), "Read-only file system")


# ----------------------------------------------------------------------------- run_stream URIs


@pytest.mark.parametrize("uri", ["rtsp://[::1:8599/x", "rtsp://admin:secret@[::1:8599/x", "synthetic://[street?frames=2"])
def test_a_malformed_url_is_a_source_error(uri: str) -> None:
    result = command("run_stream.py", uri, "--set", "output.video=null")
    assert_one_error(result, "malformed URL", uri.partition("://")[0] + "://", "Invalid IPv6 URL")
    assert "secret" not in result.stderr


@pytest.mark.parametrize(("args", "needles"), [
    (["synthetic://street?seed=x"], ["seed='x' is not valid"]),
    (["--save", "/proc/segstream-preview"], ["cannot create the --save folder /proc/segstream-preview"]),
    (["--at", "9999", "--save", "{tmp}"], ["--at 9999", "frames 0..299"]),
])
def test_the_street_preview_says_what_is_wrong_in_one_line(tmp_path: Path, args: list[str], needles: list[str]) -> None:
    """``python -m streetsim`` printed its one error on stdout, and a folder it could not create as a traceback."""
    result = command("-m", "streetsim", *[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert_one_error(result, *needles)
    assert not list(tmp_path.iterdir())
