"""FileSource on real encoded files: exact frame counts, pts, fps and sizes; damage; pacing; loops."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from pipeline.config_schema import SourceConfig
from pipeline.sources.file import FileSource
from segcore.errors import ConfigError, SourceError
from tests.videos import frame_index, probe, read_frames, truncate, write_cv2, write_pyav

CLIPS: dict[str, tuple[Callable[..., Path], str, dict[str, Any]]] = {  # name → (writer, suffix, kwargs)
    "h264": (write_pyav, ".mp4", {"frames": 30, "width": 320, "height": 176, "fps": Fraction(30000, 1001)}),
    "h264_odd": (write_pyav, ".mp4", {"frames": 12, "width": 321, "height": 177, "fps": 25}),
    "mjpeg_pyav": (
        write_pyav,
        ".avi",
        {"frames": 10, "width": 96, "height": 64, "fps": 24, "codec": "mjpeg"},
    ),
    "mp4v_cv2": (write_cv2, ".mp4", {"frames": 15, "width": 160, "height": 96, "fps": 30.0}),
    "mjpg_cv2": (write_cv2, ".avi", {"frames": 10, "width": 64, "height": 64, "fps": 15.0, "fourcc": "MJPG"}),
}


def make_clip(directory: Path, name: str) -> tuple[Path, dict[str, Any]]:
    writer, suffix, kwargs = CLIPS[name]
    return writer(directory / f"{name}{suffix}", **kwargs), kwargs


def ffprobe_count(path: Path) -> int | None:
    if shutil.which("ffprobe") is None:
        return None
    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=nb_read_frames",
            "-of",
            "csv=p=0",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return int(out.strip())


@pytest.mark.parametrize(("decoder", "threads"), [("pyav", 1), ("pyav", 0), ("opencv", 1)])
@pytest.mark.parametrize("name", sorted(CLIPS))
def test_every_frame_in_order_with_exact_size_fps_and_pts(tmp_path: Path, name: str, decoder: str, threads: int) -> None:
    path, kwargs = make_clip(tmp_path, name)
    rate = Fraction(kwargs["fps"]).limit_denominator(1001)
    source = FileSource(path, source_id="clip", config=SourceConfig(decoder=decoder, decode_threads=threads))
    info = source.open()
    frames = read_frames(source)

    assert (info.width, info.height) == (kwargs["width"], kwargs["height"])
    assert info.fps_exact == (rate.numerator, rate.denominator)
    assert info.fps == pytest.approx(float(rate))
    assert info.frame_count == kwargs["frames"] and not info.is_live
    assert len(frames) == kwargs["frames"] == probe(path)[0]
    assert [f.index for f in frames] == list(range(len(frames)))
    assert [frame_index(f.image) for f in frames] == list(range(len(frames)))
    assert all(f.source_id == "clip" and f.size == (info.width, info.height) for f in frames)
    assert all(f.image.dtype == np.uint8 and f.image.flags.c_contiguous for f in frames)
    expected_pts = [i / float(rate) for i in range(len(frames))]
    assert [f.pts for f in frames] == pytest.approx(expected_pts, abs=1e-6 if decoder == "pyav" else 2e-3)
    times = [f.capture_time for f in frames]
    assert times == sorted(times)
    assert source.stats()["frames"] == len(frames) and source.stats()["corrupt_frames"] == 0


@pytest.mark.parametrize("fraction", [0.3, 0.6, 0.9])
def test_truncated_faststart_mp4_gives_exactly_the_decodable_frames(tmp_path: Path, fraction: float) -> None:
    path = write_pyav(
        tmp_path / "cut.mp4", frames=30, width=160, height=96, container_options={"movflags": "faststart"}
    )
    truncate(path, fraction)
    expected = probe(path)[0]
    assert 0 < expected < 30
    if (count := ffprobe_count(path)) is not None:
        assert count == expected

    source = FileSource(path, source_id="cut", config=SourceConfig())
    source.open()
    frames = read_frames(source)
    assert len(frames) == expected
    assert [frame_index(f.image) for f in frames] == list(range(expected))
    assert source.stats()["truncated"] == 1


def test_mp4_truncated_before_its_index_is_refused_as_truncated(tmp_path: Path) -> None:
    path = truncate(write_pyav(tmp_path / "cut.mp4", frames=20), 0.7)  # moov at the end: cut off
    with pytest.raises(SourceError, match="truncated"):
        FileSource(path, source_id="cut").open()


def test_empty_missing_and_text_files_are_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.touch()
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    with pytest.raises(SourceError, match="empty"):
        FileSource(empty, source_id="x").open()
    with pytest.raises(SourceError, match="not a video"):
        FileSource(text, source_id="x").open()
    with pytest.raises(SourceError, match="does not exist"):
        FileSource(tmp_path / "missing.mp4", source_id="x").open()
    with pytest.raises(ConfigError, match="decoder"):
        FileSource(text, source_id="x", config=SourceConfig(decoder="ffmpeg"))  # type: ignore[arg-type]


def test_a_corrupt_frame_mid_stream_is_skipped_and_counted(tmp_path: Path) -> None:
    path = write_pyav(tmp_path / "bad.avi", frames=20, width=96, height=64, codec="mjpeg")
    with av.open(str(path)) as container:
        position, size = next((p.pos, p.size) for i, p in enumerate(container.demux(video=0)) if i == 8)
    data = bytearray(path.read_bytes())
    data[position + 8 : position + size] = b"\x00" * (size - 8)  # frame 8's JPEG data destroyed
    path.write_bytes(bytes(data))

    source = FileSource(path, source_id="bad")
    source.open()
    frames = read_frames(source)
    assert [frame_index(f.image) for f in frames] == [i for i in range(20) if i != 8]
    assert [f.index for f in frames] == list(range(19))
    assert source.stats()["corrupt_frames"] == 1
    assert source.stats()["truncated"] == 0


def test_loop_restarts_with_growing_index_and_pts(tmp_path: Path) -> None:
    path = write_pyav(tmp_path / "loop.mp4", frames=5, fps=10)
    source = FileSource(path, source_id="loop", config=SourceConfig(loop=True))
    assert source.open().frame_count is None
    frames = read_frames(source, 12)
    assert [frame_index(f.image) for f in frames] == [0, 1, 2, 3, 4] * 2 + [0, 1]
    assert [f.index for f in frames] == list(range(12))
    assert [f.pts for f in frames] == pytest.approx([i / 10 for i in range(12)])


def test_pace_replays_at_native_fps_and_is_live(tmp_path: Path) -> None:
    path = write_pyav(tmp_path / "paced.mp4", frames=8, fps=40)
    source = FileSource(path, source_id="paced", config=SourceConfig(pace=True))
    assert source.open().is_live
    start = time.monotonic()
    frames = read_frames(source)
    elapsed = time.monotonic() - start
    assert len(frames) == 8
    assert elapsed >= 7 / 40 * 0.9
    assert frames[-1].capture_time - frames[0].capture_time == pytest.approx(7 / 40, abs=0.05)


def test_close_from_another_thread_stops_a_paced_read_and_is_idempotent(tmp_path: Path) -> None:
    path = write_pyav(tmp_path / "slow.mp4", frames=10, fps=Fraction(1, 2))  # one frame every 2 s
    source = FileSource(path, source_id="slow", config=SourceConfig(pace=True))
    source.open()
    assert source.read() is not None
    result: list[object] = []
    reader = threading.Thread(target=lambda: result.append(source.read()))
    reader.start()
    time.sleep(0.1)
    start = time.monotonic()
    source.close()
    reader.join(timeout=2)
    assert not reader.is_alive() and time.monotonic() - start < 1.0
    assert result == [None]
    source.close()
    assert source.read() is None
    assert source.stats()["frames"] == 1


def test_close_before_open_and_twice(tmp_path: Path) -> None:
    source = FileSource(write_pyav(tmp_path / "c.mp4", frames=3), source_id="c")
    source.close()
    source.close()
    assert source.read() is None


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg command to tag a rotation")
def test_rotation_metadata_is_applied_like_opencv(tmp_path: Path) -> None:
    plain = write_pyav(tmp_path / "plain.mp4", frames=3, width=96, height=64)
    rotated = tmp_path / "rotated.mp4"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-i",
            str(plain),
            "-c",
            "copy",
            "-metadata:s:v:0",
            "rotate=90",
            str(rotated),
        ],
        check=True,
    )
    images = {}
    for decoder in ("pyav", "opencv"):
        source = FileSource(rotated, source_id="r", config=SourceConfig(decoder=decoder))
        info = source.open()
        assert (info.width, info.height) == (64, 96)
        images[decoder] = read_frames(source, 1)[0].image
        source.close()
    assert np.array_equal(images["pyav"], images["opencv"])
