"""run_stream.py as a user runs it: exit codes, one-line errors, the summary JSON, signals.

Runs use a tiny real ONNX model (``--model``). The runs that write a video or JSONL use the file
sinks (pipeline/sinks/); the bare demo run and the U-Net config run the bundled models.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engines.weights import default_model_path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "run_stream.py"
SMALL = "synthetic://street?seed=3&frames={n}&size=320x180&fps=30"
REQUIRED_KEYS = {"frames", "fps", "dropped", "stage_latency_ms", "e2e_latency_ms"}


def run(*args: str, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout, cwd=cwd or ROOT, env=env
    )


def assert_user_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.stderr + result.stdout
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture
def bad_files(tmp_path: Path) -> Path:
    (tmp_path / "bad.yaml").write_text("model:\n  path: x\n   bad: [1\n")
    (tmp_path / "text.mp4").write_text("not a video\n")
    (tmp_path / "empty.mp4").write_bytes(b"")
    return tmp_path


@pytest.mark.parametrize(("args", "needles"), [
    (["{dir}/missing.mp4"], ["missing.mp4", "does not exist"]),
    (["{dir}/empty.mp4"], ["empty"]),
    (["{dir}/text.mp4"], ["text.mp4"]),
    (["foo://user:secret@host/x"], ["foo://", "***"]),
    (["--config", "{dir}/bad.yaml"], ["bad.yaml", "line 3"]),
    (["--set", "model.pth=x"], ["model.pth", "did you mean 'model.path'"]),
    (["--set", "runtime.batch_size=abc"], ["runtime.batch_size", "integer"]),
    (["--set", "preprocess.resize=squash"], ["stretch, letterbox"]),
    (["--set", "model.num_classes=21"], ["19 classes", "21"]),
    (["--alpha", "abc"], ["--alpha"]),
    (["--visualize", "squash"], ["--visualize"]),
    (["--set", "model.options.spining=true"], ["model.options.spining", "did you mean 'spinning'"]),
    (["--set", "model.options.spinning=maybe"], ["model.options.spinning", "boolean"]),
    (["--set", "model.device=gpu"], ["model.device is 'gpu'", "cuda:N"]),
    (["--alpha", "1.5"], ["render.alpha is 1.5", "<= 1.0"]),
], ids=["missing-file", "empty-file", "text-as-mp4", "unknown-scheme", "bad-yaml", "unknown-key", "wrong-type",
        "bad-choice", "class-count", "bad-float", "bad-mode", "unknown-option", "option-type", "bad-device",
        "flag-range"])
def test_user_errors_exit_2_with_one_line(tiny_model: Path, bad_files: Path, args: list[str], needles: list[str]) -> None:
    args = [a.format(dir=bad_files) for a in args]
    result = run(*args, "--model", str(tiny_model), "--set", "output.video=null")
    assert_user_error(result, *needles)
    assert "secret" not in result.stderr + result.stdout


def test_missing_model_exits_2(tmp_path: Path) -> None:
    result = run(SMALL.format(n=2), "--model", str(tmp_path / "nope.onnx"))
    assert_user_error(result, "nope.onnx", "does not exist", "python -m training.train", "python -m engines.models.export")


def test_short_synthetic_run_writes_the_summary(tiny_model: Path, tmp_path: Path) -> None:
    stats = tmp_path / "stats" / "s.json"
    result = run(SMALL.format(n=6), "--model", str(tiny_model), "--set", "output.video=null", "--json", str(stats))
    assert result.returncode == 0, result.stderr
    summary = json.loads(stats.read_text())
    assert set(summary) >= REQUIRED_KEYS
    assert summary["frames"] == 6 and summary["dropped"] == 0
    assert set(summary["e2e_latency_ms"]) >= {"p50", "p95", "p99"}
    assert {"preprocess", "infer", "postprocess", "render"} <= set(summary["stage_latency_ms"])
    assert all(set(v) >= {"p50", "p95", "p99"} for v in summary["stage_latency_ms"].values())
    assert 0.0 <= summary["miou"] <= 1.0  # the synthetic stream has labels
    for text in ("frames", "p99", "end to end", "streamed mIoU", "capture:"):
        assert text in result.stdout
    assert "Traceback" not in result.stderr


def test_credentials_are_never_printed(tiny_model: Path) -> None:
    result = run("synthetic://admin:hunter2@street?seed=1", "--model", str(tiny_model), "--set", "output.video=null")
    assert_user_error(result, "***@")
    assert "hunter2" not in result.stderr + result.stdout


def _wait_for_lines(path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().count("\n") >= 3:
            return
        time.sleep(0.1)
    raise AssertionError(f"{path} got no records in {timeout} s")


def _start(tiny_model: Path, tmp_path: Path, *extra: str) -> tuple[subprocess.Popen[str], Path, Path]:
    stats, records = tmp_path / "s.json", tmp_path / "r.jsonl"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, str(SCRIPT), SMALL.format(n=0), "--pace", "--model", str(tiny_model),
         "--json", str(stats), "--jsonl", str(records), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env,
    )
    _wait_for_lines(records)
    return process, stats, records


def test_sigint_exits_130_and_leaves_a_playable_video_and_the_summary(tiny_model: Path, tmp_path: Path) -> None:
    import av

    video = tmp_path / "out.mp4"
    process, stats, _ = _start(tiny_model, tmp_path, "-o", str(video))
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    summary = json.loads(stats.read_text())
    assert summary["frames"] >= 3 and summary["state"] == "stopped"
    with av.open(str(video)) as container:
        decoded = sum(1 for _ in container.decode(video=0))
    assert decoded == summary["frames"]


def test_sigterm_stops_gracefully_with_exit_0(tiny_model: Path, tmp_path: Path) -> None:
    process, stats, _ = _start(tiny_model, tmp_path)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert json.loads(stats.read_text())["frames"] >= 3


SIGNAL_STOP_SCRIPT = (
    "import os, signal, sys, time\n"
    "from pipeline.lifecycle import PipelineState\n"
    "from segstream.signals import SignalStop\n"
    "class P:\n    live = False\n    state = PipelineState.RUNNING\n    def stop(self): print('stop', flush=True)\n    def discard_unfinished(self): return []\n"
    "with SignalStop(P()) as s:\n"
    "    os.kill(os.getpid(), signal.SIGINT)\n"
    "    time.sleep(0.1)\n"
    "    assert s.received == signal.SIGINT\n"
    "    s.check()\n"
    "    time.sleep(float(sys.argv[1]))\n"
    "    os.kill(os.getpid(), signal.SIGINT)\n"
    "    time.sleep(3)\n"
    "raise SystemExit(3)\n"
)


def _signal_stop(second_after_s: float) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", SIGNAL_STOP_SCRIPT, str(second_after_s)], capture_output=True, text=True, timeout=30, env=env
    )
    return result, time.monotonic() - started


def test_second_ctrl_c_a_second_later_exits_at_once() -> None:
    """SignalStop: the first SIGINT only asks for a stop; a second one 1 s or more later ends the process (130)."""
    result, took = _signal_stop(1.1)
    assert result.returncode == 130, result.stderr
    assert took < 1.1 + 3.0  # it did not sit out the 3 s sleep
    assert "exiting now" in result.stderr and result.stdout.count("stop") == 1


def test_the_hard_exit_removes_the_unfinished_files_and_says_so(tmp_path: Path) -> None:
    unfinished = tmp_path / "out.partial.mp4"
    unfinished.write_bytes(b"half a video")
    script = SIGNAL_STOP_SCRIPT.replace(
        "def discard_unfinished(self): return []",
        f"def discard_unfinished(self):\n        import pathlib; p = pathlib.Path({str(unfinished)!r}); p.unlink(); return [p]",
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", script, "1.1"], capture_output=True, text=True, timeout=30, env=env)
    assert result.returncode == 130, result.stderr
    assert not unfinished.exists()
    assert f"exiting now (removed the unfinished {unfinished})" in result.stderr


def test_second_ctrl_c_within_a_second_is_the_same_request() -> None:
    """The same Ctrl-C delivered twice (to the child and then to its process group, as GNU timeout
    and uv run do) stops the run once and never hard-exits."""
    result, _ = _signal_stop(0.05)
    assert result.returncode == 3, result.stderr
    assert "exiting now" not in result.stderr and result.stdout.count("stop") == 1


def test_bare_run_is_the_demo(tmp_path: Path) -> None:
    assert default_model_path().is_file(), "the bundled model (engines/weights/) is part of the repository"
    result = run("--max-frames", "5", "--json", "s.json", cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "segstream_demo.mp4").is_file()
    assert "out/segstream_demo.mp4" in result.stdout
    assert json.loads((tmp_path / "s.json").read_text())["frames"] == 5


def test_unet_config_runs_the_bundled_unet(tmp_path: Path) -> None:
    assert (ROOT / "engines" / "weights" / "unet_street.onnx").is_file(), "the U-Net demo model is part of the repository"
    result = run("--config", str(ROOT / "configs" / "unet.yaml"), "--max-frames", "4", "--json", "s.json", cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "model unet_street 256x512" in result.stdout
    assert (tmp_path / "out" / "unet_demo.mp4").is_file()
    assert json.loads((tmp_path / "s.json").read_text())["frames"] == 4


@pytest.mark.parametrize(("argv", "video"), [
    ([], "out/segstream_demo.mp4"),  # run bare: the demo writes an annotated video
    (["clip.mp4"], None),
    (["-o", "mine.mp4"], "mine.mp4"),
    (["--set", "output.video=null"], None),
    (["--set", "output={video: x.mp4}"], "x.mp4"),
])
def test_the_demo_output_is_only_the_default_of_a_bare_run(argv: list[str], video: str | None) -> None:
    from segstream.arguments import config_from_args, parse_args

    assert config_from_args(parse_args(argv)).output.video == video


@pytest.mark.parametrize("argv", [
    ["synthetic://street?frames=2&size=160x120", "--set", "output.video=null"],  # a run
    ["--max-frames", "-3"],  # a usage error
])
def test_main_called_in_process_gives_the_host_its_signal_handlers_back(argv: list[str]) -> None:
    """The command handles stop signals from its first line; a host (or pytest) that calls main()
    in its own process must get its own handlers back, or its Ctrl-C would be swallowed after."""
    from segstream.run import main

    stops = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    before = {sig: signal.getsignal(sig) for sig in stops}
    with contextlib.suppress(SystemExit):  # the usage error's exit
        main(argv)
    assert {sig: signal.getsignal(sig) for sig in stops} == before
