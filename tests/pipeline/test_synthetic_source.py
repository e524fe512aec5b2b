"""The synthetic source keeps its drawn frames where the docs say, and gives the same frames either way."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.config_schema import SourceConfig
from pipeline.sources.synthetic import MAX_CACHED_PIXELS, SyntheticSource, cache_folder
from streetsim import StreetScene, SyntheticSpec

DEFAULT_CACHE = Path(SourceConfig().synthetic_cache)

URI = "synthetic://street?seed=5&frames=8&size=96x64"


def read_all(source: SyntheticSource, limit: int = 100) -> list:
    source.open()
    frames = []
    while len(frames) < limit and (frame := source.read()) is not None:
        frames.append(frame)
    source.close()
    return frames


def assert_same_frames(frames: list, expected: list) -> None:
    assert len(frames) == len(expected)
    for frame, (image, labels) in zip(frames, expected, strict=True):
        assert np.array_equal(frame.image, image) and np.array_equal(frame.labels, labels)


@pytest.fixture
def drawn() -> list:
    scene = StreetScene(SyntheticSpec.from_uri(URI))
    return [scene.render(i) for i in range(8)]


def test_by_default_the_cache_is_under_out_in_the_working_directory(tmp_path: Path, monkeypatch, drawn) -> None:
    monkeypatch.chdir(tmp_path)
    assert Path("out/cache/synthetic") == DEFAULT_CACHE
    assert_same_frames(read_all(SyntheticSource(URI)), drawn)
    [file] = (tmp_path / DEFAULT_CACHE).iterdir()
    assert file.name.startswith("street_s5_dashcam_96x64_8f_")
    assert StreetScene(SyntheticSpec.from_uri(URI), cache_dir=tmp_path / DEFAULT_CACHE).cached
    assert_same_frames(read_all(SyntheticSource(URI)), drawn)  # now from the file


def test_open_fills_the_cache_so_that_every_read_unpacks(tmp_path: Path, drawn) -> None:
    source = SyntheticSource(URI, config=SourceConfig(synthetic_cache=str(tmp_path)))
    source.open()
    assert len(list(tmp_path.iterdir())) == 1 and source._scene.cached  # before the first read
    frames = []
    while (frame := source.read()) is not None:
        frames.append(frame)
    source.close()
    assert_same_frames(frames, drawn)


def test_the_setting_moves_the_cache_or_turns_it_off(tmp_path: Path, monkeypatch, drawn) -> None:
    monkeypatch.chdir(tmp_path)
    elsewhere = SourceConfig(synthetic_cache=str(tmp_path / "elsewhere"))
    assert_same_frames(read_all(SyntheticSource(URI, config=elsewhere)), drawn)
    assert len(list((tmp_path / "elsewhere").iterdir())) == 1
    off = SourceConfig(synthetic_cache=None)
    assert_same_frames(read_all(SyntheticSource("synthetic://street?seed=6&frames=8&size=96x64", config=off)),
                       [StreetScene(SyntheticSpec(seed=6, frames=8, width=96, height=64)).render(i) for i in range(8)])
    assert not (tmp_path / "out").exists() and len(list((tmp_path / "elsewhere").iterdir())) == 1


def test_a_looped_stream_repeats_the_same_frames_from_the_cache(tmp_path: Path, drawn) -> None:
    frames = read_all(SyntheticSource(URI, config=SourceConfig(loop=True, synthetic_cache=str(tmp_path))), limit=20)
    assert_same_frames(frames, drawn + drawn + drawn[:4])
    assert [f.index for f in frames] == list(range(20))


def test_endless_and_long_streams_are_drawn_every_time() -> None:
    setting = str(DEFAULT_CACHE)
    assert cache_folder(SyntheticSpec(frames=None), setting) is None
    per_frame = 1280 * 720
    assert cache_folder(SyntheticSpec(frames=MAX_CACHED_PIXELS // per_frame), setting) == DEFAULT_CACHE
    assert cache_folder(SyntheticSpec(frames=MAX_CACHED_PIXELS // per_frame + 1), setting) is None
    assert cache_folder(SyntheticSpec(frames=8), None) is None
