"""File and display sinks: video round trips (H.264, mp4v, odd sizes), crash safety, masks, JSONL."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

import pipeline.sinks.display as display
import pipeline.sinks.encoders as encoders
import pipeline.sinks.video as video
from pipeline.config_schema import OutputConfig
from pipeline.frame import Frame, SegResult
from pipeline.sinks import build_sinks
from pipeline.sinks.display import DisplaySink
from pipeline.sinks.jsonl import JsonlSink
from pipeline.sinks.masks import MaskSink
from pipeline.sinks.plan import check_outputs
from pipeline.sinks.video import VideoSink
from pipeline.sources.base import SourceInfo
from segcore.errors import ConfigError, OutputError
from tests.videos import frame_index, pattern, probe, write_images, write_pyav

ROOT = Path(__file__).resolve().parents[2]
NAMES = ["road", "car", "sky"]


def info(width: int, height: int, rate: Fraction | None = Fraction(25), *, live: bool = False) -> SourceInfo:
    return SourceInfo(
        uri="test",
        width=width,
        height=height,
        fps=float(rate) if rate else None,
        frame_count=None,
        is_live=live,
        fps_exact=(rate.numerator, rate.denominator) if rate else None,
    )


def result(
    i: int,
    width: int,
    height: int,
    *,
    source: str = "a",
    capture_time: float | None = None,
    rendered: np.ndarray | None = None,
) -> SegResult:
    frame = Frame(
        image=pattern(i, width, height),
        source_id=source,
        index=i,
        pts=i / 25,
        capture_time=i / 25 if capture_time is None else capture_time,
    )
    class_map = (np.arange(width * height).reshape(height, width) % 3).astype(np.uint8)
    return SegResult(
        frame=frame,
        class_map=class_map,
        fractions=np.bincount(class_map.ravel(), minlength=3) / class_map.size,
        timings_ms={"e2e": 12.5, "infer": 7.25},
        rendered=rendered,
    )


def decoded(path: Path) -> Iterator[np.ndarray]:
    import av

    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            yield frame.to_ndarray(format="bgr24")


# ---- video --------------------------------------------------------------------------------------


@pytest.mark.parametrize("codec", ["h264", "mp4v"])
@pytest.mark.parametrize(("width", "height"), [(320, 176), (321, 177), (64, 65)])
@pytest.mark.parametrize("rate", [Fraction(30000, 1001), Fraction(25)])
def test_video_round_trip(tmp_path: Path, codec: str, width: int, height: int, rate: Fraction) -> None:
    sink = VideoSink(tmp_path / "out.mp4", codec=codec)
    sink.open({"a": info(width, height, rate)})
    for i in range(12):
        sink.write(result(i, width, height))
    sink.close()

    count, out_width, out_height, out_rate = probe(tmp_path / "out.mp4")
    assert (count, out_rate) == (12, rate)
    if codec == "h264":  # H.264 keeps every size exactly (odd sizes as yuv444p)
        assert (out_width, out_height) == (width, height)
    else:  # mp4v cannot code odd sizes: one replicated column/row
        assert (out_width, out_height) == (width + width % 2, height + height % 2)
    assert [frame_index(image[:height, :width]) for image in decoded(tmp_path / "out.mp4")] == list(range(12))
    assert not (tmp_path / "out.partial.mp4").exists()
    assert sink.stats()["frames"] == 12


@pytest.mark.parametrize("preset", ["ultrafast", "veryfast"])
def test_video_preset_is_applied_and_checked(tmp_path: Path, preset: str) -> None:
    sink = VideoSink(tmp_path / "out.mp4", codec="h264", preset=preset)
    sink.open({"a": info(96, 64, Fraction(25))})
    for i in range(5):
        sink.write(result(i, 96, 64))
    sink.close()
    assert probe(tmp_path / "out.mp4")[0] == 5
    import av

    with av.open(str(tmp_path / "out.mp4")) as container:  # x264 records its settings in the stream
        sei = bytes(next(container.demux(video=0)))
    # ultrafast turns CABAC off; veryfast keeps it on
    assert (b"cabac=0" in sei) == (preset == "ultrafast")
    with pytest.raises(ConfigError, match="video_preset"):
        VideoSink(tmp_path / "bad.mp4", preset="ludicrous")  # type: ignore[arg-type]


def test_video_reads_back_with_opencv_at_the_exact_size(tmp_path: Path) -> None:
    sink = VideoSink(tmp_path / "odd.mp4")
    sink.open({"a": info(321, 177)})
    for i in range(5):
        sink.write(result(i, 321, 177))
    sink.close()
    cap = cv2.VideoCapture(str(tmp_path / "odd.mp4"))
    frames = []
    while (item := cap.read())[0]:
        frames.append(item[1])
    assert len(frames) == 5 and frames[0].shape == (177, 321, 3)


def test_opencv_fallback_without_pyav(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(video, "pyav_encoders", lambda: set())
    sink = VideoSink(tmp_path / "cv.mp4")
    sink.open({"a": info(96, 64)})
    assert sink.codec == "mp4v"
    for i in range(10):
        sink.write(result(i, 96, 64))
    sink.close()
    assert probe(tmp_path / "cv.mp4") == (10, 96, 64, Fraction(25))


def test_h264_without_libx264_is_refused_and_auto_falls_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(video, "pyav_encoders", lambda: {"mpeg4"})
    with pytest.raises(OutputError, match="libx264"):
        VideoSink(tmp_path / "x.mp4", codec="h264").open({"a": info(64, 64)})
    sink = VideoSink(tmp_path / "x.mp4")
    sink.open({"a": info(64, 64)})
    assert sink.codec == "mpeg4"


def test_rendered_frames_are_written_when_present(tmp_path: Path) -> None:
    sink = VideoSink(tmp_path / "side.mp4")
    sink.open({"a": info(64, 48)})
    for i in range(3):
        side_by_side = np.concatenate([pattern(i, 64, 48), pattern(i, 64, 48)], axis=1)
        sink.write(result(i, 64, 48, rendered=side_by_side))
    sink.close()
    assert probe(tmp_path / "side.mp4")[:3] == (3, 128, 48)


def test_a_size_change_mid_stream_keeps_the_file_size_and_is_counted(tmp_path: Path) -> None:
    sink = VideoSink(tmp_path / "resize.mp4")
    sink.open({"a": info(96, 64)})
    for i in range(4):
        sink.write(result(i, 96, 64))
    for i in range(4, 8):  # the camera came back at another resolution
        sink.write(result(i, 192, 128))
    sink.close()
    assert probe(tmp_path / "resize.mp4")[:3] == (8, 96, 64)
    assert [frame_index(image) for image in decoded(tmp_path / "resize.mp4")] == list(range(8))
    assert sink.stats()["resized_frames"] == 4


def test_live_sources_are_stamped_by_capture_time(tmp_path: Path) -> None:
    sink = VideoSink(tmp_path / "live.mp4")
    sink.open({"a": info(64, 48, Fraction(25), live=True)})
    for k, i in enumerate([0, 1, 4, 5, 9]):  # frames 2, 3, 6, 7, 8 were dropped upstream
        sink.write(result(k, 64, 48, capture_time=100.0 + i / 25))
    sink.close()
    import av

    with av.open(str(tmp_path / "live.mp4")) as container:
        stream = container.streams.video[0]
        pts = [round(float(f.pts * f.time_base) * 25) for f in container.decode(stream)]
    assert pts == [0, 1, 4, 5, 9]  # real-time playback: the gaps are kept


def test_several_sources_one_file_each(tmp_path: Path) -> None:
    sources = {"cam1": info(64, 48), "cam2": info(96, 64, Fraction(30))}
    templated = VideoSink(str(tmp_path / "out" / "{source}_{index}.mp4"), multi_source=True)
    plain = VideoSink(tmp_path / "run.mp4", multi_source=True)
    for sink in (templated, plain):
        sink.open(sources)
        for i in range(3):
            sink.write(result(i, 64, 48, source="cam1"))
            sink.write(result(i, 96, 64, source="cam2"))
        sink.close()
    assert probe(tmp_path / "out" / "cam1_0.mp4") == (3, 64, 48, Fraction(25))
    assert probe(tmp_path / "out" / "cam2_1.mp4") == (3, 96, 64, Fraction(30))
    assert plain.paths == {"cam1": tmp_path / "run_cam1.mp4", "cam2": tmp_path / "run_cam2.mp4"}
    assert probe(tmp_path / "run_cam2.mp4")[0] == 3

    clash = VideoSink(str(tmp_path / "{index}.mp4").replace("{index}", "same"), multi_source=False)
    with pytest.raises(OutputError, match="same video"):
        clash.open(sources)


def test_output_equal_to_an_input_is_refused(tmp_path: Path) -> None:
    clip = write_pyav(tmp_path / "clip.mp4", frames=2)
    (tmp_path / "link.mp4").symlink_to(clip)
    with pytest.raises(OutputError, match="also an input"):
        VideoSink(clip, inputs=[str(clip)])
    with pytest.raises(OutputError, match="also an input"):
        VideoSink(tmp_path / "link.mp4", inputs=[str(clip)])
    with pytest.raises(OutputError, match="also an input"):
        VideoSink(tmp_path / "sub" / ".." / "clip.mp4", inputs=[f"file://{clip}"])
    templated = VideoSink(str(tmp_path / "{source}.mp4"), inputs=[str(clip)])
    with pytest.raises(OutputError, match="also an input"):
        templated.open({"clip": info(64, 48)})
    with pytest.raises(OutputError, match="also an input"):
        build_sinks(OutputConfig(jsonl=str(clip)), inputs=[str(clip)], class_names=NAMES, multi_source=False)
    with pytest.raises(OutputError, match="also an input"):
        build_sinks(
            OutputConfig(masks=str(tmp_path)), inputs=[str(tmp_path)], class_names=NAMES, multi_source=False
        )
    VideoSink(tmp_path / "out.mp4", inputs=[str(clip), "rtsp://cam/x", "0"])  # other paths are fine


def test_bad_names_and_codecs_are_refused(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="unknown suffix"):
        VideoSink(tmp_path / "out.gif")
    with pytest.raises(ConfigError, match="output.codec"):
        VideoSink(tmp_path / "out.mp4", codec="hevc")  # type: ignore[arg-type]
    (tmp_path / "dir.mp4").mkdir()
    with pytest.raises(OutputError, match="is a folder"):
        VideoSink(tmp_path / "dir.mp4").open({"a": info(64, 48)})
    with pytest.raises(OutputError, match="template"):
        VideoSink(str(tmp_path / "{source}_{camera}.mp4")).open({"a": info(64, 48)})


CRASH_SCRIPT = """
import os, signal, sys
sys.path.insert(0, {root!r})
from fractions import Fraction
from pipeline.sinks.video import VideoSink
from tests.pipeline.test_sinks import info, result
sink = VideoSink({path!r})
sink.open({{"a": info(96, 64)}})
for i in range({frames}):
    sink.write(result(i, 96, 64))
if {how!r} == "kill":
    os.kill(os.getpid(), signal.SIGKILL)
if {how!r} == "sigint":
    os.kill(os.getpid(), signal.SIGINT)
raise RuntimeError("boom")
"""


@pytest.mark.parametrize("how", ["exception", "sigint"])
def test_an_exception_or_ctrl_c_still_leaves_a_playable_file(tmp_path: Path, how: str) -> None:
    path = tmp_path / "crash.mp4"
    script = CRASH_SCRIPT.format(root=str(ROOT), path=str(path), how=how, frames=10)
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    assert probe(path) == (10, 96, 64, Fraction(25))
    assert not (tmp_path / "crash.partial.mp4").exists()


def test_a_hard_kill_never_leaves_a_corrupt_file_at_the_final_path(tmp_path: Path) -> None:
    path = tmp_path / "killed.mp4"
    script = CRASH_SCRIPT.format(
        root=str(ROOT), path=str(path), how="kill", frames=60
    )  # past the encoder's delay
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, timeout=60)
    assert done.returncode == -9
    assert not path.exists()
    assert (tmp_path / "killed.partial.mp4").exists()


def test_discard_removes_the_unfinished_file_and_close_then_writes_nothing(tmp_path: Path) -> None:
    """A hard exit: the file that can never be finalised goes, nothing is left at either path."""
    sink = VideoSink(tmp_path / "v.mp4")
    sink.open({"a": info(64, 48)})
    for index in range(30):
        sink.write(result(index, 64, 48))
    assert (tmp_path / "v.partial.mp4").exists()
    assert sink.discard() == [tmp_path / "v.partial.mp4"]
    sink.close()
    assert list(tmp_path.iterdir()) == [] and sink.outputs() == []


def test_close_is_idempotent_and_late_writes_are_ignored(tmp_path: Path) -> None:
    sink = VideoSink(tmp_path / "v.mp4")
    sink.open({"a": info(64, 48)})
    sink.write(result(0, 64, 48))
    sink.close()
    sink.close()
    sink.write(result(1, 64, 48))
    assert probe(tmp_path / "v.mp4")[0] == 1
    unused = VideoSink(tmp_path / "never.mp4")
    unused.open({"a": info(64, 48)})
    unused.close()
    assert not (tmp_path / "never.mp4").exists()


@pytest.mark.parametrize("fails_at", [0, 8])
def test_an_encoder_error_keeps_what_was_written_or_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fails_at: int
) -> None:
    real_write = encoders.PyAVEncoder.write
    calls = []

    def failing_write(self: encoders.PyAVEncoder, image: np.ndarray, pts: int) -> None:
        calls.append(pts)
        if len(calls) > fails_at:
            raise RuntimeError("encoder fell over")
        real_write(self, image, pts)

    monkeypatch.setattr(encoders.PyAVEncoder, "write", failing_write)
    sink = VideoSink(tmp_path / "sub" / "v.mp4", codec="mp4v")
    sink.open({"a": info(96, 64)})
    for i in range(fails_at):
        sink.write(result(i, 96, 64))
    with pytest.raises(OutputError, match="cannot write video .*v.mp4: RuntimeError: encoder fell over") as error:
        sink.write(result(fails_at, 96, 64))
    sink.write(result(fails_at + 1, 96, 64))  # the file has ended: ignored
    sink.close()
    assert not (tmp_path / "sub" / "v.partial.mp4").exists()
    if fails_at == 0:  # nothing to keep: no file, no folder it made, nothing claimed
        assert "removed" in str(error.value) and not (tmp_path / "sub").exists()
        assert sink.outputs() == [] and sink.stats()["frames"] == 0
    else:  # what the file holds is read back from it and reported
        held = probe(tmp_path / "sub" / "v.mp4")[0]
        assert 0 < held <= fails_at and f"first {held} frames are kept" in str(error.value)
        assert sink.outputs() == [{"kind": "video", "path": str(tmp_path / "sub" / "v.mp4"), "frames": held, "source": "a"}]


def test_a_file_that_cannot_be_finalised_is_removed_and_not_claimed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_close(self: encoders.PyAVEncoder) -> None:
        self._container.close()
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    sink = VideoSink(str(tmp_path / "{source}.mp4"), multi_source=True)
    sink.open({"a": info(64, 48), "b": info(64, 48)})
    for i in range(3):
        sink.write(result(i, 64, 48, source="a"))
        sink.write(result(i, 64, 48, source="b"))
    monkeypatch.setattr(encoders.PyAVEncoder, "close", failing_close)
    with pytest.raises(OutputError, match=r"a.mp4: No space left on device \(the disk is full\); video .*b.mp4"):
        sink.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    assert sink.outputs() == [] and sink.stats()["files"] == []


# ---- masks --------------------------------------------------------------------------------------


def test_masks_are_lossless_pngs_named_by_source_and_index(tmp_path: Path) -> None:
    sink = MaskSink(tmp_path / "masks" / "run1")
    sink.open({"a": info(33, 17)})
    rng = np.random.default_rng(0)
    maps = []
    for i in range(3):
        class_map = rng.integers(0, 19, size=(17, 33), dtype=np.uint8)
        class_map[0, 0] = 255  # the ignore value survives too
        maps.append(class_map)
        frame = Frame(image=pattern(i, 33, 17), source_id="cam 1", index=i + 7, pts=None, capture_time=0.0)
        sink.write(SegResult(frame=frame, class_map=class_map, fractions=np.zeros(19, np.float32)))
    sink.close()
    files = sorted((tmp_path / "masks" / "run1").iterdir())
    assert [f.name for f in files] == ["cam 1_000007.png", "cam 1_000008.png", "cam 1_000009.png"]
    for path, expected in zip(files, maps, strict=True):
        back = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        assert back is not None and back.dtype == np.uint8 and back.ndim == 2
        assert np.array_equal(back, expected)


def test_masks_folder_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("x")
    with pytest.raises(OutputError, match="is a file"):
        MaskSink(tmp_path / "taken").open({})


# ---- jsonl --------------------------------------------------------------------------------------


def test_jsonl_one_valid_line_per_frame(tmp_path: Path) -> None:
    sink = JsonlSink(tmp_path / "logs" / "run.jsonl", class_names=NAMES)
    sink.open({"a": info(6, 4)})
    for i in range(4):
        sink.write(result(i, 6, 4))
    odd = result(4, 6, 4)
    sink.write(
        SegResult(
            frame=Frame(image=odd.frame.image, source_id="a", index=4, pts=None, capture_time=1.0),
            class_map=odd.class_map,
            fractions=np.array([0.5, 0.25, 0.25, 0.0]),
            timings_ms={"e2e": float("nan")},
        )
    )

    lines = (tmp_path / "logs" / "run.jsonl").read_text().splitlines()  # before close: already on disk
    assert len(lines) == 5
    records = [json.loads(line) for line in lines]
    first = records[0]
    assert first["source"] == "a" and first["index"] == 0 and first["pts"] == 0.0
    assert first["capture_time"] == 0.0 and (first["width"], first["height"]) == (6, 4)
    assert first["latency_ms"] == {"e2e": 12.5, "infer": 7.25}
    assert list(first["fractions"]) == NAMES
    assert sum(first["fractions"].values()) == pytest.approx(1.0, abs=1e-5)
    last = records[-1]
    assert last["pts"] is None and last["latency_ms"] == {"e2e": None}
    assert last["fractions"] == {"road": 0.5, "car": 0.25, "sky": 0.25, "class_3": 0.0}
    sink.close()
    sink.close()


def test_jsonl_lines_survive_a_hard_kill(tmp_path: Path) -> None:
    path = tmp_path / "killed.jsonl"
    script = f"""
import os, signal, sys
sys.path.insert(0, {str(ROOT)!r})
from pipeline.sinks.jsonl import JsonlSink
from tests.pipeline.test_sinks import result
sink = JsonlSink({str(path)!r}, class_names=["road", "car", "sky"])
sink.open({{}})
for i in range(50):
    sink.write(result(i, 8, 6))
os.kill(os.getpid(), signal.SIGKILL)
"""
    subprocess.run([sys.executable, "-c", script], timeout=60)
    lines = path.read_text().splitlines()
    assert len(lines) == 50
    assert [json.loads(line)["index"] for line in lines] == list(range(50))


def test_file_sinks_that_wrote_nothing_leave_nothing(tmp_path: Path) -> None:
    jsonl = JsonlSink(tmp_path / "logs" / "deep" / "r.jsonl", class_names=NAMES)
    masks = MaskSink(tmp_path / "masks" / "run")
    for sink in (jsonl, masks):
        sink.open({"a": info(8, 6)})
    assert (tmp_path / "logs" / "deep" / "r.jsonl").exists()  # visible while the run goes on
    for sink in (jsonl, masks):
        sink.close()
        assert sink.outputs() == []
    assert list(tmp_path.iterdir()) == []


# ---- the output plan ------------------------------------------------------------------------------


def test_the_plan_names_every_file_a_run_writes(tmp_path: Path) -> None:
    output = OutputConfig(video=str(tmp_path / "out" / "{source}.mp4"), jsonl=str(tmp_path / "r.jsonl"),
                          json=str(tmp_path / "s.json"), masks=str(tmp_path / "m"))
    planned = check_outputs(output, inputs=["a.mp4", "rtsp://cam/x"], source_ids=["a", "x"])
    assert [(p.what, p.path.relative_to(tmp_path).as_posix()) for p in planned] == [
        ("output video", "out/a.mp4"), ("output video", "out/a.partial.mp4"),
        ("output video", "out/x.mp4"), ("output video", "out/x.partial.mp4"),
        ("masks folder", "m"), ("jsonl output", "r.jsonl"), ("summary", "s.json"),
    ]
    assert not (tmp_path / "out").exists() and list(tmp_path.iterdir()) == []  # checked, nothing made


def test_the_plan_refuses_links_to_inputs_and_outputs_inside_outputs(tmp_path: Path) -> None:
    clip = write_pyav(tmp_path / "clip.mp4", frames=2)
    os.link(clip, tmp_path / "hard.json")
    with pytest.raises(OutputError, match="summary .*hard.json is also an input"):
        check_outputs(OutputConfig(json=str(tmp_path / "hard.json")), inputs=[str(clip)], source_ids=["clip"])
    image = write_images(tmp_path / "shots", ["a.png"])[0]
    with pytest.raises(OutputError, match="holds input images"):
        check_outputs(OutputConfig(masks=str(tmp_path / "shots")), inputs=[str(image)], source_ids=["a"])
    with pytest.raises(OutputError, match="is also an input"):  # an image of an input folder
        check_outputs(OutputConfig(json=str(image)), inputs=[str(tmp_path / "shots")], source_ids=["shots"])
    with pytest.raises(OutputError, match="inside .*o.mp4, which is written as a file"):
        check_outputs(OutputConfig(video=str(tmp_path / "o.mp4"), masks=str(tmp_path / "o.mp4" / "m")),
                      inputs=[str(clip)], source_ids=["clip"])


# ---- display and build_sinks ---------------------------------------------------------------------


def test_display_refuses_cleanly_without_a_gui() -> None:
    problem = display.display_problem()
    if problem is None:
        pytest.skip("this machine can show windows")
    with pytest.raises(OutputError, match="cannot show video") as error:
        DisplaySink().open({"a": info(64, 48)})
    assert "-o out.mp4" in str(error.value) and "\n" not in str(error.value)


def test_display_names_the_missing_display_when_opencv_has_a_gui(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cv2, "getBuildInformation", lambda: "  GUI:                           GTK3\n")
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert "DISPLAY" in (display.display_problem() or "")
    monkeypatch.setenv("DISPLAY", ":0")
    assert display.display_problem() is None
    monkeypatch.setattr(cv2, "getBuildInformation", lambda: "  GUI:                           NONE\n")
    assert "opencv-python-headless" in (display.display_problem() or "")


def test_build_sinks_makes_what_the_config_asks_for(tmp_path: Path) -> None:
    assert build_sinks(OutputConfig(), inputs=["clip.mp4"], class_names=NAMES, multi_source=False) == []
    output = OutputConfig(
        video=str(tmp_path / "o.mp4"),
        codec="mp4v",
        masks=str(tmp_path / "m"),
        jsonl=str(tmp_path / "r.jsonl"),
        show=True,
    )
    sinks = build_sinks(output, inputs=["clip.mp4"], class_names=NAMES, multi_source=True)
    assert [type(s) for s in sinks] == [VideoSink, MaskSink, JsonlSink, DisplaySink]
    assert [s.name for s in sinks] == ["video", "masks", "jsonl", "display"]
    video_sink, _, jsonl_sink, _ = sinks
    assert isinstance(video_sink, VideoSink) and video_sink.multi_source
    assert isinstance(jsonl_sink, JsonlSink) and jsonl_sink.class_names == NAMES
