"""ImageSource: one image, a folder, a glob; natural order; damaged images; loops."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline.config_schema import SourceConfig
from pipeline.sources.images import ImageSource, list_images
from segcore.errors import SourceError
from tests.videos import frame_index, pattern, read_frames, write_images


def test_folder_in_natural_order_skipping_other_files(tmp_path: Path) -> None:
    names = ["f1.png", "f2.png", "f10.png", "f11.jpg"]  # natural order; plain sorting would put f10 first
    write_images(tmp_path, names)
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "sub").mkdir()
    write_images(tmp_path / "sub", ["f0.png"])  # folders are not recursed

    source = ImageSource(tmp_path, source_id="frames")
    info = source.open()
    frames = read_frames(source)
    assert (info.width, info.height, info.frame_count, info.fps, info.is_live) == (48, 32, 4, None, False)
    assert [frame_index(f.image) for f in frames] == [0, 1, 2, 3]
    assert np.array_equal(frames[0].image, pattern(0, 48, 32))  # PNG: lossless
    assert [f.index for f in frames] == [0, 1, 2, 3]
    assert all(f.pts is None and f.source_id == "frames" for f in frames)


def test_zero_padded_names_are_in_sorted_order(tmp_path: Path) -> None:
    names = [f"frame_{i:04d}.png" for i in range(12)]
    write_images(tmp_path, sorted(names, key=lambda n: -int(n[6:10])))  # written in reverse order
    paths = list_images(str(tmp_path))
    assert [p.name for p in paths] == sorted(names)


def test_glob_selects_matching_images_in_order(tmp_path: Path) -> None:
    write_images(tmp_path, ["b.png", "a.png", "c.jpg", "d.png"])
    source = ImageSource(str(tmp_path / "*.png"), source_id="g")
    source.open()
    frames = read_frames(source)
    assert [frame_index(f.image) for f in frames] == [1, 0, 3]  # a, b, d (written as 1, 0, 3)


def test_single_image_and_loop(tmp_path: Path) -> None:
    (path,) = write_images(tmp_path, ["one.jpg"], width=64, height=40)
    source = ImageSource(path, source_id="one")
    assert source.open().frame_count == 1
    assert len(read_frames(source)) == 1

    looped = ImageSource(path, source_id="one", config=SourceConfig(loop=True))
    assert looped.open().frame_count is None
    frames = read_frames(looped, 5)
    assert [f.index for f in frames] == list(range(5))
    assert all(f.size == (64, 40) for f in frames)


def test_damaged_images_are_skipped_and_counted_and_sizes_may_differ(tmp_path: Path) -> None:
    write_images(tmp_path, ["a.png"], width=48, height=32)
    (tmp_path / "b.png").write_bytes(b"\x89PNG garbage")
    write_images(tmp_path / "tmp", ["c.png"], width=20, height=10)
    (tmp_path / "tmp" / "c.png").rename(tmp_path / "c.png")
    source = ImageSource(tmp_path, source_id="mixed")
    source.open()
    frames = read_frames(source)
    assert [f.size for f in frames] == [(48, 32), (20, 10)]
    assert source.stats() == {"frames": 2, "corrupt_frames": 1}


def test_grey_alpha_and_16_bit_images_arrive_as_8_bit_bgr(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "a_grey.png"), np.full((8, 12), 200, np.uint8))
    cv2.imwrite(str(tmp_path / "b_alpha.png"), np.full((8, 12, 4), 100, np.uint8))
    cv2.imwrite(str(tmp_path / "c_deep.png"), np.full((8, 12), 65535, np.uint16))
    source = ImageSource(tmp_path, source_id="kinds")
    source.open()
    frames = read_frames(source)
    assert len(frames) == 3
    assert all(f.image.shape == (8, 12, 3) and f.image.dtype == np.uint8 for f in frames)
    assert frames[0].image[0, 0].tolist() == [200, 200, 200]
    assert frames[2].image[0, 0].tolist() == [255, 255, 255]


def test_non_ascii_paths(tmp_path: Path) -> None:
    write_images(tmp_path / "Straße", ["bild_ä.png"])
    source = ImageSource(tmp_path / "Straße", source_id="x")
    source.open()
    assert len(read_frames(source)) == 1


def test_no_images_or_none_decodable_is_refused(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("x")
    with pytest.raises(SourceError, match="no images"):
        ImageSource(tmp_path, source_id="x").open()
    with pytest.raises(SourceError, match="no images"):
        ImageSource(str(tmp_path / "*.png"), source_id="x").open()
    (tmp_path / "bad.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(SourceError, match="can be decoded"):
        ImageSource(tmp_path, source_id="x").open()


def test_close_is_idempotent(tmp_path: Path) -> None:
    write_images(tmp_path, ["a.png", "b.png"])
    source = ImageSource(tmp_path, source_id="x")
    source.open()
    assert source.read() is not None
    source.close()
    source.close()
    assert source.read() is None
