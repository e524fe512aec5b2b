"""The URI dispatcher: which source each URI gets, the errors for bad ones, and source ids."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import pipeline.sources as sources
from pipeline.config_schema import SourceConfig
from pipeline.sources import classify, open_source, source_id_for, source_ids_for
from pipeline.sources.file import FileSource
from pipeline.sources.images import ImageSource
from segcore.errors import SourceError
from tests.videos import write_images, write_pyav


@pytest.fixture()
def media(tmp_path: Path) -> Path:
    write_pyav(tmp_path / "clip.mp4", frames=3)
    (tmp_path / "clip.MKV").write_bytes((tmp_path / "clip.mp4").read_bytes())
    (tmp_path / "odd.name").write_bytes((tmp_path / "clip.mp4").read_bytes())
    write_images(tmp_path / "frames", ["a.png", "b.png"])
    write_images(tmp_path, ["photo.jpg"])
    (tmp_path / "empty_dir").mkdir()
    return tmp_path


@pytest.mark.parametrize(
    ("uri", "kind"),
    [
        ("{d}/clip.mp4", "file"),
        ("{d}/clip.MKV", "file"),
        ("{d}/odd.name", "file"),  # unknown suffix: tried as a video
        ("file://{d}/clip.mp4", "file"),
        ("{d}/photo.jpg", "images"),
        ("{d}/frames", "images"),
        ("{d}/frames/*.png", "images"),
        ("0", "webcam"),
        ("1", "webcam"),
        ("/dev/video0", "webcam"),
        ("v4l2:///dev/video2", "webcam"),
        ("/dev/v4l/by-id/usb-046d_HD_Webcam_C615-video-index0", "webcam"),
        ("rtsp://cam.local:554/stream", "network"),
        ("rtsps://user:pw@cam.local/stream", "network"),
        ("http://127.0.0.1:8080/video.mjpg", "network"),
        ("https://example.com/live/index.m3u8", "network"),
        ("rtmp://example.com/live/key", "network"),
        ("rtmps://example.com/live/key", "network"),
        ("RTSP://CAM/stream", "network"),
        ("synthetic://street?seed=7&frames=10", "synthetic"),
    ],
)
def test_classify(media: Path, uri: str, kind: str) -> None:
    assert classify(uri.format(d=media))[0] == kind


def test_open_source_builds_file_and_image_sources(media: Path) -> None:
    config = SourceConfig(loop=True)
    video = open_source(str(media / "clip.mp4"), source_id="clip", config=config)
    assert isinstance(video, FileSource) and video.source_id == "clip"
    assert video.open().frame_count is None  # the config reached it (loop)
    video.close()
    assert isinstance(open_source(str(media / "frames"), source_id="f"), ImageSource)
    assert isinstance(open_source(str(media / "photo.jpg"), source_id="p"), ImageSource)


def test_live_and_synthetic_sources_get_their_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[tuple[str, str, dict]] = []

    def fake_class(kind: str):
        def build(target: str, **kwargs: object) -> str:
            made.append((kind, target, kwargs))
            return kind

        return build

    monkeypatch.setattr(sources, "_kind_class", fake_class)
    config = SourceConfig()
    on_status = print
    open_source("rtsp://u:p@cam/s", source_id="cam", config=config, on_status=on_status)
    open_source("0", source_id="cam0", config=config, on_status=on_status)
    open_source("synthetic://street", source_id="street", config=config)
    assert made == [
        ("network", "rtsp://u:p@cam/s", {"source_id": "cam", "config": config, "on_status": on_status}),
        ("webcam", "0", {"source_id": "cam0", "config": config, "on_status": on_status}),
        ("synthetic", "synthetic://street", {"source_id": "street", "config": config}),
    ]


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("", "empty source"),
        ("   ", "empty source"),
        ("ftp://user:secret@host/clip.mp4", "unknown source scheme ftp://"),
        ("push://app", "created in code"),
        ("{d}/missing.mp4", "video .* does not exist"),
        ("{d}/missing.png", "image .* does not exist"),
        ("{d}/nothing_here", "does not exist"),
        ("{d}/empty.mp4", "empty"),
        ("{d}/empty_dir", "holds no images"),
        ("{d}/frames/*.jpg", "holds no images"),
    ],
)
def test_bad_uris_give_one_clear_line(media: Path, uri: str, message: str) -> None:
    (media / "empty.mp4").touch()
    with pytest.raises(SourceError, match=message) as error:
        open_source(uri.format(d=media), source_id="x")
    text = str(error.value)
    assert "\n" not in text and "secret" not in text


def test_a_text_file_named_mp4_fails_on_open(media: Path) -> None:
    fake = media / "fake.mp4"
    fake.write_text("hello\n" * 100)
    source = open_source(str(fake), source_id="fake")
    with pytest.raises(SourceError, match="not a video file"):
        source.open()


def test_a_missing_source_module_fails_only_when_used(monkeypatch: pytest.MonkeyPatch, media: Path) -> None:
    monkeypatch.setitem(sources.KINDS, "network", "pipeline.sources.not_there:NetworkSource")
    with pytest.raises(SourceError, match="network sources are not available"):
        open_source("rtsp://cam/stream", source_id="cam")
    assert isinstance(open_source(str(media / "clip.mp4"), source_id="clip"), FileSource)


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("videos/drive.mp4", "drive"),
        ("file:///data/My Clip (1).mov", "My_Clip_1"),
        ("0", "cam0"),
        ("/dev/video2", "cam2"),
        ("v4l2:///dev/video1", "cam1"),
        ("rtsp://admin:hunter2@cam-1.local:554/Streaming/101", "cam-1.local"),
        ("https://user:pw@example.com/live.m3u8?token=abc", "example.com"),
        ("synthetic://street?seed=7", "street"),
        ("frames/*.png", "frames"),
        ("data/run1/**/*.jpg", "run1"),
        ("shots/", "shots"),
        ("rtsp://[::1]:8554/x", "1"),
        ("!!!", "src4"),
    ],
)
def test_source_id_for(uri: str, expected: str) -> None:
    assert source_id_for(uri, 4) == expected


def test_source_ids_are_unique_safe_and_free_of_credentials() -> None:
    uris = ["a/clip.mp4", "b/clip.mp4", "rtsp://u:secret@cam/x", "rtsp://v:secret@cam/y", "0", "clip.mkv"]
    ids = source_ids_for(uris)
    assert ids == ["clip", "clip_1", "cam", "cam_3", "cam0", "clip_5"]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+", i) and "secret" not in i for i in ids)
