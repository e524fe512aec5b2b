"""How a run ends when it is told to: signals sent directly, to the process group, through GNU
``timeout`` and by a terminal that is closed; and the one error line of a run that fails.

Every case is ``run_stream.py`` as a user runs it (a real process, a tiny real ONNX model, a paced
synthetic stream, so that frames flow like a camera's) and checks the exit code, that the video
is finalised and plays (PyAV decodes every frame, as many as the summary counts), and that the
summary was printed and written. ``timeout`` sends its signal to the child and then to the
child's whole process group, so the child receives it twice within microseconds: that must count
as one request.
"""

from __future__ import annotations

import json
import os
import pty
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import av
import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "run_stream.py"
PACED = "synthetic://street?seed=4&frames=0&size=160x120&fps=30"  # endless, at 30 fps with --pace
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}


OFFLINE = "synthetic://street?seed=4&frames=100000&size=160x120&fps=30"  # a long recording: a progress bar


def run_args(model: Path, tmp_path: Path, source: tuple[str, ...] = (PACED, "--pace")) -> list[str]:
    return [
        sys.executable, str(SCRIPT), *source, "--model", str(model),
        "-o", str(tmp_path / "out.mp4"), "--json", str(tmp_path / "s.json"), "--jsonl", str(tmp_path / "r.jsonl"),
    ]


def wait_for_frames(tmp_path: Path, process: subprocess.Popen[str] | None = None, timeout: float = 90) -> None:
    """Until the run has written a few per-frame records (it is past its start, frames flow)."""
    records = tmp_path / "r.jsonl"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if records.exists() and records.read_text().count("\n") >= 5:
            return
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the run ended early ({process.returncode}): {process.communicate()}")
        time.sleep(0.05)
    raise AssertionError(f"{records} got no records in {timeout} s")


def decoded_frames(video: Path) -> int:
    """Every frame of ``video`` decoded; a file that is not finalised fails to open or to decode."""
    with av.open(str(video)) as container:
        return sum(1 for _ in container.decode(video=0))


def assert_stopped_cleanly(tmp_path: Path, returncode: int, expected: int, stdout: str, stderr: str) -> None:
    assert returncode == expected, stderr
    assert "Traceback" not in stderr and "exiting now" not in stderr, stderr
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["state"] == "stopped" and summary["frames"] >= 5, summary
    assert decoded_frames(tmp_path / "out.mp4") == summary["frames"]
    assert not list(tmp_path.glob("*.partial*"))
    if stdout:  # the summary table was printed (a closed terminal shows nothing)
        assert "segstream:" in stdout and "wrote video" in stdout


def double_delivery(process: subprocess.Popen[str], sig: int) -> None:
    """What GNU timeout and ``uv run`` do: the signal to the child, then to its process group.

    Spaced by 50 ms, so that the child has handled the first one before the second arrives (sent
    back to back, the two often merge into one delivery and hide the bug)."""
    os.kill(process.pid, sig)
    time.sleep(0.05)
    os.killpg(process.pid, sig)


SENDERS: dict[str, Callable[[subprocess.Popen[str], int], None]] = {
    "direct": lambda process, sig: os.kill(process.pid, sig),
    "group": lambda process, sig: os.killpg(process.pid, sig),
    "twice": double_delivery,
}


@pytest.mark.parametrize(("sig", "expected"), [(signal.SIGINT, 130), (signal.SIGTERM, 0), (signal.SIGHUP, 0)],
                         ids=["SIGINT", "SIGTERM", "SIGHUP"])
@pytest.mark.parametrize("how", list(SENDERS))
def test_a_signal_stops_the_run_gracefully(tiny_model: Path, tmp_path: Path, how: str, sig: int, expected: int) -> None:
    process = subprocess.Popen(
        run_args(tiny_model, tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=ENV, start_new_session=True,  # its own process group, as under a wrapper
    )
    try:
        wait_for_frames(tmp_path, process)
        SENDERS[how](process, sig)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert_stopped_cleanly(tmp_path, process.returncode, expected, stdout, stderr)


def timeout_command() -> str:
    path = shutil.which("timeout")
    if path is None:
        pytest.fail("GNU timeout (coreutils) is needed by this test")
    return path


@pytest.mark.parametrize(("sig", "expected"), [("INT", 130), ("TERM", 0), ("HUP", 0)])
def test_a_signal_forwarded_by_timeout_counts_once(tiny_model: Path, tmp_path: Path, sig: str, expected: int) -> None:
    """``timeout`` that receives a signal (a Ctrl-C in the terminal, a supervisor's stop) passes it on
    to the child and to the child's process group: two deliveries of one request."""
    process = subprocess.Popen(
        [timeout_command(), "-s", sig, "600", *run_args(tiny_model, tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
    )
    try:
        wait_for_frames(tmp_path, process)
        process.send_signal(getattr(signal, f"SIG{sig}"))  # to timeout itself, which forwards it
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert_stopped_cleanly(tmp_path, process.returncode, expected, stdout, stderr)


@pytest.mark.parametrize(("sig", "expected"), [("INT", 130), ("TERM", 0)])
def test_timeout_expiring_stops_the_run_gracefully(tiny_model: Path, tmp_path: Path, sig: str, expected: int) -> None:
    """The real expiry: ``timeout -s INT --preserve-status 12 run_stream.py ...`` (12 s is far past
    the start of the run, so frames are flowing when it fires)."""
    result = subprocess.run(
        [timeout_command(), "-s", sig, "--preserve-status", "12", *run_args(tiny_model, tmp_path)],
        capture_output=True, text=True, env=ENV, timeout=120,
    )
    assert_stopped_cleanly(tmp_path, result.returncode, expected, result.stdout, result.stderr)


@pytest.mark.parametrize("source", [(PACED, "--pace"), (OFFLINE,)], ids=["live", "offline-with-progress-bar"])
def test_closing_the_terminal_stops_the_run_gracefully(tiny_model: Path, tmp_path: Path, source: tuple[str, ...]) -> None:
    """The run in a pseudo-terminal that is then closed, as when an ssh session drops: the kernel
    sends SIGHUP and every later write to the terminal fails (EIO). The run still finalises the
    video and writes the summary, and exits 0."""
    pid, terminal = pty.fork()
    if pid == 0:  # the child: a session leader whose controlling terminal is the pty
        try:
            os.execve(sys.executable, run_args(tiny_model, tmp_path, source), ENV)
        finally:
            os._exit(127)
    shown = b""
    try:
        deadline = time.monotonic() + 90
        records = tmp_path / "r.jsonl"
        while not (records.exists() and records.read_text().count("\n") >= 5):
            assert time.monotonic() < deadline, f"no frames: {shown.decode(errors='replace')}"
            if select.select([terminal], [], [], 0.05)[0]:
                try:
                    shown += os.read(terminal, 65536)
                except OSError:
                    break
        os.close(terminal)  # the terminal goes away: SIGHUP
        terminal = -1
        deadline = time.monotonic() + 60
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            assert time.monotonic() < deadline, "the run did not end after the hangup"
            time.sleep(0.05)
    finally:
        if terminal >= 0:
            os.close(terminal)
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
    assert os.WIFEXITED(status), f"ended by signal {os.WTERMSIG(status) if os.WIFSIGNALED(status) else '?'}"
    assert_stopped_cleanly(tmp_path, os.WEXITSTATUS(status), 0, "", shown.decode(errors="replace"))


def test_an_error_is_reported_once(tmp_path: Path) -> None:
    """A component that fails while starting (here: a backend this machine lacks) is one ``error:``
    line, not also an ``infer failed: ...`` line from the library's logger."""
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "synthetic://street?frames=3&size=160x120", "--set", "model.backend=tensorrt",
         "--set", "output.video=null"],
        capture_output=True, text=True, env=ENV, timeout=120, cwd=tmp_path,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "TensorRT" in lines[0], result.stderr


def test_a_live_stop_leaves_every_output_with_the_same_frames(tiny_model: Path) -> None:
    """A live stop drops the frames still on their way, but not a result already handed to the sinks:
    each sink writes it, so the video, the JSONL and the summary's frame count agree. (The sinks'
    queues used to be emptied too: a sink that was a frame behind lost it, while the other had
    written it, and the count said neither.)"""
    import numpy as np

    from pipeline import CallbackSink, Pipeline, PushSource

    fast: list[int] = []
    slow: list[int] = []

    def write_slowly(result: object) -> None:
        time.sleep(0.3)  # an encoder that falls behind
        slow.append(result.frame.index)  # type: ignore[attr-defined]

    source = PushSource("cam")
    sinks = [CallbackSink(lambda r: fast.append(r.frame.index), name="fast"), CallbackSink(write_slowly, name="slow")]
    pipe = Pipeline([source], sinks, model=tiny_model)
    pipe.start()
    image = np.zeros((120, 160, 3), np.uint8)
    deadline = time.monotonic() + 30
    while len(fast) < 4:  # a camera at 30 fps; the slow sink now runs a frame or two behind
        assert time.monotonic() < deadline, (fast, slow)
        source.push(image)
        time.sleep(1 / 30)
    pipe.stop()
    assert pipe.join(timeout=10)
    assert fast == slow and pipe.stats()["frames"] == len(fast)


@pytest.mark.parametrize(("sig", "expected", "line"), [
    (signal.SIGINT, 130, "interrupted"),
    (signal.SIGTERM, 0, "SIGTERM: stopped while starting (nothing was written)"),
    (signal.SIGHUP, 0, "SIGHUP: stopped while starting (nothing was written)"),
])
def test_a_signal_while_starting_ends_in_one_line(
    tiny_model: Path, tmp_path: Path, sig: int, expected: int, line: str
) -> None:
    """A signal during the imports and the config read (here: a config file that is a FIFO, so the
    run is known to be there) ends the run once it can, in one line, with nothing written; before,
    SIGTERM killed it with its default action and Ctrl-C inside an import was a traceback."""
    fifo = tmp_path / "config.yaml"
    os.mkfifo(fifo)
    process = subprocess.Popen([*run_args(tiny_model, tmp_path), "--config", str(fifo)], env=ENV, cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with fifo.open("w") as writer:  # returns once the run opened the config: it is starting
        process.send_signal(sig)
        time.sleep(0.2)
        writer.write("render: {alpha: 0.5}\n")
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == expected, stderr
    assert stderr.strip().splitlines() == [line], stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml"], stdout
