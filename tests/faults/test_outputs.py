"""Outputs at the edges: every output checked before the first frame, full disks, read-only folders.

Each case runs ``run_stream.py`` as a user does (a real process with a tiny real ONNX model) and
checks the exit code, the one ``error:`` line, the ``wrote`` lines and what is left on disk:
inputs untouched, and either a finalised playable file or nothing, never a ``*.partial.*``.

Full disks are real: a process with ``RLIMIT_FSIZE`` (Python ignores SIGXFSZ, so writes fail with
EFBIG) and a small tmpfs. Read-only folders are a read-only tmpfs, because these tests run as root
here and in CI, and root ignores directory permissions. Mounting needs root or password-less sudo;
without either the tests that mount fail (they do not skip), saying so.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.videos import probe, write_images, write_pyav

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "run_stream.py"
STREET = "synthetic://street?seed=5&frames={n}&size=320x240&fps=25"


def run(
    *args: str, cwd: Path, file_size_limit: int | None = None, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    def limit_file_size() -> None:
        if file_size_limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, file_size_limit))

    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env, preexec_fn=limit_file_size,
    )


def assert_refused(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    """Exit 2, one ``error:`` line holding every needle, and no run: no summary table, no wrote line."""
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert result.stdout == "", result.stdout  # refused before the first frame: nothing ran


def wrote(result: subprocess.CompletedProcess[str]) -> dict[str, list[str]]:
    """The ``wrote KIND: PATH (...)`` lines, by kind."""
    claims: dict[str, list[str]] = {}
    for line in result.stdout.splitlines():
        if line.startswith("wrote "):
            kind, _, rest = line[len("wrote ") :].partition(": ")
            claims.setdefault(kind, []).append(rest.split(" (")[0])
    return claims


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if ".partial" in p.name or p.name.startswith(".segstream"))


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    return write_pyav(tmp_path / "clip.mp4", frames=6)


# ---- no output may overwrite an input, or another output -------------------------------------------


def test_the_summary_on_the_input_is_refused_and_the_input_kept(tiny_model: Path, tmp_path: Path, clip: Path) -> None:
    before = clip.read_bytes()
    result = run(str(clip), "--model", str(tiny_model), "--max-frames", "3", "-o", "o.mp4", "--json", str(clip),
                 cwd=tmp_path)
    assert_refused(result, str(clip), "also an input")
    assert clip.read_bytes() == before
    assert not (tmp_path / "o.mp4").exists()


@pytest.mark.parametrize("flag", ["--json", "--jsonl"])
def test_two_outputs_on_one_path_are_refused(tiny_model: Path, tmp_path: Path, clip: Path, flag: str) -> None:
    result = run(str(clip), "--model", str(tiny_model), "--max-frames", "3", "-o", "s.mp4", flag, "s.mp4",
                 cwd=tmp_path)
    assert_refused(result, "s.mp4", "same file")
    assert not (tmp_path / "s.mp4").exists()


def test_an_output_inside_another_output_file_is_refused(tiny_model: Path, tmp_path: Path, clip: Path) -> None:
    result = run(str(clip), "--model", str(tiny_model), "--jsonl", "r.jsonl", "--json", "r.jsonl/s.json",
                 cwd=tmp_path)
    assert_refused(result, "r.jsonl/s.json", "inside")
    assert not (tmp_path / "r.jsonl").exists()


def test_a_summary_symlinked_to_the_input_is_refused(tiny_model: Path, tmp_path: Path, clip: Path) -> None:
    (tmp_path / "link.json").symlink_to(clip)
    result = run(str(clip), "--model", str(tiny_model), "--max-frames", "3", "--json", "link.json", cwd=tmp_path)
    assert_refused(result, "link.json", "also an input", str(clip))
    assert (tmp_path / "link.json").is_symlink()


def test_the_videos_unfinished_file_may_not_be_an_input(tiny_model: Path, tmp_path: Path, clip: Path) -> None:
    """The video is written to o.partial.mp4 first: a symlink there to the input would destroy the input."""
    before = clip.read_bytes()
    (tmp_path / "o.partial.mp4").symlink_to(clip)
    result = run(str(clip), "--model", str(tiny_model), "--max-frames", "3", "-o", "o.mp4", cwd=tmp_path)
    assert_refused(result, "o.partial.mp4", "o.mp4", "also an input")
    assert clip.read_bytes() == before


def test_masks_among_the_input_images_are_refused(tiny_model: Path, tmp_path: Path) -> None:
    images = write_images(tmp_path / "frames", ["a.jpg", "b.jpg"])
    result = run(str(tmp_path / "frames" / "*.jpg"), "--model", str(tiny_model), "--masks", "frames", cwd=tmp_path)
    assert_refused(result, "frames", "input images")
    assert sorted((tmp_path / "frames").iterdir()) == images


def test_several_sources_with_a_template(tiny_model: Path, tmp_path: Path) -> None:
    first, second = write_pyav(tmp_path / "a.mp4", frames=4), write_pyav(tmp_path / "b.mp4", frames=5)
    clash = run(str(first), str(second), "--model", str(tiny_model), "-o", "out/{source}.mp4", "--json", "out/b.mp4",
                cwd=tmp_path)
    assert_refused(clash, "out/b.mp4", "same file")
    assert not (tmp_path / "out").exists()

    result = run(str(first), str(second), "--model", str(tiny_model), "-o", "out/{source}.mp4", "--json", "s.json",
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert wrote(result) == {"video": ["out/a.mp4", "out/b.mp4"], "summary": ["s.json"]}
    assert probe(tmp_path / "out" / "a.mp4")[0] == 4 and probe(tmp_path / "out" / "b.mp4")[0] == 5
    outputs = json.loads((tmp_path / "s.json").read_text())["outputs"]
    assert [(o["kind"], o["path"], o.get("frames")) for o in outputs] == [
        ("video", "out/a.mp4", 4), ("video", "out/b.mp4", 5), ("summary", "s.json", None)
    ]


# ---- folders that cannot be written: refused before the run ------------------------------------------


@pytest.mark.parametrize("flag", ["-o", "--json"])
def test_a_read_only_folder_is_refused_before_the_run(
    tiny_model: Path, tmp_path: Path, clip: Path, mount_tmpfs: Callable[..., Path], flag: str
) -> None:
    mount_tmpfs(tmp_path / "ro", 256, read_only=True)
    target = {"-o": "ro/o.mp4", "--json": "ro/sub/s.json"}[flag]
    args = ["-o", "o.mp4"] if flag != "-o" else []
    result = run(str(clip), "--model", str(tiny_model), flag, target, *args, cwd=tmp_path)
    assert_refused(result, target, "Read-only file system")
    assert not (tmp_path / "o.mp4").exists()


@pytest.mark.parametrize(("flag", "target"), [("--jsonl", "ro/r.jsonl"), ("--masks", "ro/masks")])
def test_outputs_are_refused_before_a_camera_is_contacted(
    tiny_model: Path, tmp_path: Path, mount_tmpfs: Callable[..., Path], flag: str, target: str
) -> None:
    """A camera that does not answer is not tried (with its retries) before a useless output is refused."""
    mount_tmpfs(tmp_path / "ro", 256, read_only=True)
    result = run("rtsp://127.0.0.1:9/none", "--model", str(tiny_model), flag, target, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and target in errors[0] and "Read-only file system" in errors[0], result.stderr
    assert "connecting" not in result.stderr and result.stdout == ""


def test_a_summary_onto_a_folder_is_refused_before_the_run(tiny_model: Path, tmp_path: Path, clip: Path) -> None:
    (tmp_path / "s.json").mkdir()
    result = run(str(clip), "--model", str(tiny_model), "-o", "o.mp4", "--json", "s.json", cwd=tmp_path)
    assert_refused(result, "s.json", "is a folder")
    assert not (tmp_path / "o.mp4").exists()


def test_a_summary_onto_a_named_pipe_is_refused_and_the_pipe_kept(tiny_model: Path, tmp_path: Path, clip: Path) -> None:
    """The summary is renamed into place, which would replace the pipe (as root: a device, /dev/null)."""
    os.mkfifo(tmp_path / "pipe")
    result = run(str(clip), "--model", str(tiny_model), "--json", "pipe", cwd=tmp_path)
    assert_refused(result, "pipe", "not a regular file")
    assert stat.S_ISFIFO((tmp_path / "pipe").stat().st_mode)


def test_a_full_disk_is_refused_before_the_run(
    tiny_model: Path, tmp_path: Path, clip: Path, mount_tmpfs: Callable[..., Path]
) -> None:
    disk = mount_tmpfs(tmp_path / "disk", 64)
    with open(disk / "filler", "wb", buffering=0) as filler, pytest.raises(OSError, match="No space"):
        while True:
            filler.write(b"\0" * 4096)
    result = run(str(clip), "--model", str(tiny_model), "-o", "disk/o.mp4", cwd=tmp_path)
    assert_refused(result, "disk/o.mp4", "No space left on device")


# ---- a disk that fills during the run ----------------------------------------------------------------


def test_a_file_size_limit_leaves_no_partial_video_and_claims_none(tiny_model: Path, tmp_path: Path) -> None:
    result = run(STREET.format(n=300), "--model", str(tiny_model), "-o", "o.mp4", "--json", "s.json",
                 cwd=tmp_path, file_size_limit=30_000)
    assert result.returncode == 1, result.stdout + result.stderr
    assert not (tmp_path / "o.mp4").exists() and leftovers(tmp_path) == []
    assert "video" not in wrote(result)
    assert "File too large" not in result.stdout  # the error is said once, on the error line
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "o.mp4" in errors[0] and "File too large" in errors[0], result.stderr
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["state"] == "failed" and "o.mp4" in summary["error"]
    assert [o["kind"] for o in summary["outputs"]] == ["summary"]


def test_a_video_whose_first_bytes_cannot_be_written_ends_cleanly(tiny_model: Path, tmp_path: Path, clip: Path) -> None:
    """The container's header write fails: flushing the encoder after that used to crash (SIGSEGV)."""
    result = run(str(clip), "--model", str(tiny_model), "-o", "o.mp4", cwd=tmp_path, file_size_limit=16)
    assert result.returncode == 1, result.stdout + result.stderr
    assert not (tmp_path / "o.mp4").exists() and leftovers(tmp_path) == []
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "o.mp4" in errors[0] and "removed" in errors[0], result.stderr
    assert "video" not in wrote(result)


def test_a_file_size_limit_leaves_whole_jsonl_lines_and_counts_them(tiny_model: Path, tmp_path: Path) -> None:
    result = run(STREET.format(n=300), "--model", str(tiny_model), "--jsonl", "r.jsonl", "--json", "s.json",
                 cwd=tmp_path, file_size_limit=20_000)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = (tmp_path / "r.jsonl").read_text().splitlines()
    assert lines and [json.loads(line)["index"] for line in lines] == list(range(len(lines)))
    assert wrote(result)["jsonl"] == ["r.jsonl"]
    assert f"r.jsonl ({len(lines)} records)" in result.stdout
    assert [o["frames"] for o in json.loads((tmp_path / "s.json").read_text())["outputs"][:1]] == [len(lines)]


def test_a_disk_that_fills_during_the_run_is_freed_again(
    tiny_model: Path, tmp_path: Path, mount_tmpfs: Callable[..., Path]
) -> None:
    disk = mount_tmpfs(tmp_path / "disk", 96)
    result = run(STREET.format(n=300), "--model", str(tiny_model), "-o", "disk/o.mp4", "--json", "disk/s.json",
                 cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "No space left on device" in result.stderr and "video" not in wrote(result)
    assert sorted(p.name for p in disk.iterdir()) == ["s.json"]  # the unfinished video is gone, its space free
    assert shutil.disk_usage(disk).free > 64 * 1024
    assert json.loads((disk / "s.json").read_text())["state"] == "failed"


def test_a_sink_that_fails_leaves_the_video_playable_and_counted(
    tiny_model: Path, tmp_path: Path, mount_tmpfs: Callable[..., Path]
) -> None:
    mount_tmpfs(tmp_path / "small", 48)
    result = run(STREET.format(n=300), "--model", str(tiny_model), "-o", "o.mp4", "--masks", "small/masks",
                 "--json", "s.json", cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "No space left on device" in result.stderr
    frames = probe(tmp_path / "o.mp4")[0]
    assert frames > 0 and leftovers(tmp_path) == []
    assert f"wrote video: o.mp4 ({frames} frames)" in result.stdout
    masks = sorted((tmp_path / "small" / "masks").iterdir())
    outputs = {o["kind"]: o for o in json.loads((tmp_path / "s.json").read_text())["outputs"]}
    assert outputs["video"]["frames"] == frames and outputs["masks"]["frames"] == len(masks)
    import cv2

    assert all(cv2.imread(str(mask), cv2.IMREAD_UNCHANGED) is not None for mask in masks)  # no truncated PNG
