"""The drawn-frame cache: the same bits as drawing, written whole or not at all, never trusted blindly."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np
import pytest

from streetsim import StreetScene, SyntheticSpec

W, H = 160, 90


def spec(seed: int = 3, camera: str = "dashcam", frames: int | None = 12) -> SyntheticSpec:
    return SyntheticSpec(seed=seed, frames=frames, width=W, height=H, camera=camera)


def frames_of(scene: StreetScene, indices=None) -> list[tuple[np.ndarray, np.ndarray]]:
    return [scene.render(i) for i in (range(len(scene)) if indices is None else indices)]


def assert_same(a: list, b: list) -> None:
    assert len(a) == len(b)
    for (ia, la), (ib, lb) in zip(a, b, strict=True):
        assert np.array_equal(ia, ib) and np.array_equal(la, lb)


def fill(s: SyntheticSpec, folder: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    """Render every frame with a cache, and close the scene (which waits for the file)."""
    scene = StreetScene(s, cache_dir=folder)
    frames = frames_of(scene)
    scene.close()
    return frames


def cache_files(folder: Path) -> list[Path]:
    return sorted(folder.iterdir()) if folder.exists() else []


# seed 7 is a rainy night: glow, rain streaks and noise on top of the cached drawing
@pytest.mark.parametrize(("seed", "camera"), [(3, "dashcam"), (7, "dashcam"), (2, "fixed")])
def test_cached_frames_are_the_drawn_frames_bit_for_bit(tmp_path: Path, seed: int, camera: str) -> None:
    drawn = frames_of(StreetScene(spec(seed, camera)))
    filling = StreetScene(spec(seed, camera), cache_dir=tmp_path)
    assert not filling.cached
    assert_same(frames_of(filling), drawn)
    assert filling.cached  # written at the last frame; a loop now reads it back
    assert_same(frames_of(filling, [5, 0, 11]), [drawn[5], drawn[0], drawn[11]])
    [file] = cache_files(tmp_path)
    assert f"_s{seed}_{camera}_{W}x{H}_12f_30fps_g" in file.name and file.suffix == ".drawn"

    reading = StreetScene(spec(seed, camera), cache_dir=tmp_path)
    assert reading.cached
    assert_same(frames_of(reading, [11, 4, 4, 0]), [drawn[11], drawn[4], drawn[4], drawn[0]])  # any order
    image, labels = reading.render(3)
    assert image.flags.writeable and labels.flags.writeable and image.flags.c_contiguous


def test_every_parameter_that_changes_pixels_has_its_own_file(tmp_path: Path) -> None:
    for s in (spec(), spec(seed=4), spec(camera="fixed"), SyntheticSpec(seed=3, frames=12, width=W, height=H, fps=25)):
        fill(s, tmp_path)
    assert len(cache_files(tmp_path)) == 4


def test_a_run_that_stops_early_or_jumps_writes_nothing(tmp_path: Path) -> None:
    frames_of(StreetScene(spec(), cache_dir=tmp_path), range(11))  # one frame short of the end
    frames_of(StreetScene(spec(), cache_dir=tmp_path), [0, 1, 2, 5, 6, 7, 8, 9, 10, 11])
    scene = StreetScene(spec(), cache_dir=tmp_path)
    frames_of(scene, range(6))
    scene.close()  # stopped: what it collected is dropped
    frames_of(scene, range(6, 12))
    assert cache_files(tmp_path) == []  # no file, and no temporary file left behind either


@pytest.mark.parametrize("damage", ["truncated", "flipped byte", "foreign", "empty", "other spec"])
def test_a_damaged_or_foreign_file_is_drawn_again_and_replaced(tmp_path: Path, damage: str, caplog) -> None:
    drawn = frames_of(StreetScene(spec()))
    fill(spec(), tmp_path)
    [file] = cache_files(tmp_path)
    data = file.read_bytes()
    if damage == "truncated":
        file.write_bytes(data[: len(data) // 2])
    elif damage == "flipped byte":
        file.write_bytes(data[:300] + bytes([data[300] ^ 0x10]) + data[301:])
    elif damage == "foreign":
        file.write_bytes(b"\x00\x00\x00 ftypisom" + data[12:])
    elif damage == "empty":
        file.write_bytes(b"")
    else:  # a valid file of another video under this name
        fill(spec(seed=4), tmp_path)
        other = next(p for p in cache_files(tmp_path) if p != file)
        other.replace(file)
    with caplog.at_level(logging.INFO, logger="streetsim.frame_cache"):
        again = StreetScene(spec(), cache_dir=tmp_path)
    assert not again.cached
    assert "not using the drawn-frame cache" in caplog.text
    assert_same(frames_of(again), drawn)  # drawn, and the file written anew
    assert again.cached and file.read_bytes() == data
    assert StreetScene(spec(), cache_dir=tmp_path).cached


def test_two_scenes_filling_at_once_leave_one_valid_file(tmp_path: Path) -> None:
    drawn = frames_of(StreetScene(spec()))
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def fill() -> None:
        try:
            scene = StreetScene(spec(), cache_dir=tmp_path)
            barrier.wait(timeout=30)
            frames_of(scene)
            scene.close()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=fill) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert len(cache_files(tmp_path)) == 1
    reading = StreetScene(spec(), cache_dir=tmp_path)
    assert reading.cached
    assert_same(frames_of(reading), drawn)


def test_an_unwritable_folder_only_costs_the_cache(tmp_path: Path, caplog) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    drawn = frames_of(StreetScene(spec()))
    with caplog.at_level(logging.WARNING, logger="streetsim.frame_cache"):
        assert_same(fill(spec(), blocker / "cache"), drawn)
    assert "cannot write the drawn-frame cache" in caplog.text


def test_an_endless_video_is_never_cached(tmp_path: Path) -> None:
    scene = StreetScene(spec(frames=None), cache_dir=tmp_path)
    for i in range(5):
        scene.render(i)
    assert not scene.cached and cache_files(tmp_path) == []
