"""``python -m bench --quick`` end to end on a tiny real ONNX model and a tiny real H.264 clip.

Checks the shape and the sanity of what it reports (keys, orders, counts, files), never speed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import av
import pytest

from bench.__main__ import main
from bench.clip import decode_frames, make_clip, retime_clip
from bench.stages import STAGES

CLIP_FRAMES = 40


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clip") / "street.mp4", frames=CLIP_FRAMES, size=(320, 180))


@pytest.fixture(scope="module")
def quick_run(tiny_model: Path, tiny_clip: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    out = tmp_path_factory.mktemp("bench")
    code = main(["--quick", "--model", str(tiny_model), "--clip", str(tiny_clip), "--out", str(out / "o"),
                 "--json", str(out / "b.json")])
    assert code == 0
    return json.loads((out / "b.json").read_text()), out / "o"


def test_clip_is_h264_at_30_fps_and_retimes_without_reencoding(tiny_clip: Path) -> None:
    with av.open(str(tiny_clip)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.name, stream.width, stream.height) == ("h264", 320, 180)
        assert stream.average_rate == 30
    assert len(decode_frames(tiny_clip)) == CLIP_FRAMES
    fast = retime_clip(tiny_clip, 60)
    with av.open(str(fast)) as container:
        assert container.streams.video[0].average_rate == 60
    assert len(decode_frames(fast)) == CLIP_FRAMES
    assert make_clip(tiny_clip) == tiny_clip  # cached: not made again


@pytest.mark.slow
def test_quick_run_reports_every_headline_number(quick_run: tuple[dict[str, Any], Path]) -> None:
    result, _ = quick_run
    for key in ("engine_fps", "sequential_fps", "pipeline_fps"):
        assert isinstance(result[key], float) and result[key] > 0, key
    # both ratios come from the same round as the numbers they divide (one round in --quick)
    assert result["pipeline_over_sequential"] == pytest.approx(result["pipeline_fps"] / result["sequential_fps"], abs=0.01)
    round_ = result["rounds"][0]
    assert result["pipeline_over_engine"] == pytest.approx(round_["pipeline"] / round_["engine"], abs=0.01)
    assert result["bottleneck_stage"] in STAGES
    for p in (result["engine_latency_ms"], result["e2e_latency_ms"]["live_30"], result["e2e_latency_ms"]["live_60"]):
        assert 0 < p["p50"] <= p["p95"] <= p["p99"]
    machine = result["machine"]
    for key in ("cpu", "cores", "memory_gib", "python", "onnxruntime", "opencv", "av", "numpy", "date"):
        assert machine[key], key


def test_engine_best_is_the_fastest_setting_measured(quick_run: tuple[dict[str, Any], Path]) -> None:
    result, _ = quick_run
    settings = result["engine"]["settings"]
    names = [row["name"] for row in settings]
    assert len(set(names)) == len(names) >= 4
    assert result["engine"]["best"]["fps"] == max(row["fps"] for row in settings)
    assert any(row["workers"] == 2 for row in settings) and any(row["spinning"] is True for row in settings)
    assert any(row["batch"] > 1 for row in settings)  # the tiny model takes any batch
    # the sequential loop gets one session on every core, spinning and not, and keeps its best
    loops = result["sequential"]["variants"]
    assert {v["engine"]["spinning"] for v in loops} == {True, False}
    assert result["sequential_fps"] == max(v["fps"] for v in loops)


def test_stages_and_pipeline_do_the_same_work_on_every_frame(quick_run: tuple[dict[str, Any], Path]) -> None:
    result, out = quick_run
    assert [row["stage"] for row in result["stages"]["stages"]] == list(STAGES)
    assert result["stages"]["total_cpu_ms"] == pytest.approx(sum(r["cpu_ms"] for r in result["stages"]["stages"]), abs=0.05)
    assert result["pipeline_offline"]["frames"] == CLIP_FRAMES  # offline: nothing dropped
    assert result["sequential"]["frames"] == CLIP_FRAMES
    for name in ("pipeline.mp4", "sequential.mp4"):
        assert len(decode_frames(out / name)) == CLIP_FRAMES


def test_live_runs_count_every_frame_as_written_or_dropped(quick_run: tuple[dict[str, Any], Path]) -> None:
    result, _ = quick_run
    for fps in (30, 60):
        live = result[f"pipeline_live_{fps}"]
        assert live["live"] is True
        assert live["captured"] == CLIP_FRAMES
        assert live["frames"] + live["dropped"] == live["captured"]
        # the warm-up's latencies (the first second, at most a quarter of the run) are left out
        assert 0 < live["warmup_frames"] <= live["frames"] // 4
        assert len(result["e2e_samples_ms"][f"live_{fps}"]) == live["frames"] - live["warmup_frames"]


def test_streams_and_targets(quick_run: tuple[dict[str, Any], Path]) -> None:
    result, out = quick_run
    rows = result["streams"]
    assert [row["streams"] for row in rows] == [1, 2, 4, 8]
    for row in rows:
        assert len(row["fps_per_stream"]) == row["streams"] and row["aggregate_fps"] > 0
        assert 0.0 <= row["drop_rate"] < 1.0
    assert len(list((out / "streams").glob("stream_*.mp4"))) == 8
    targets = result["targets"]
    for key in ("pipeline_over_sequential", "pipeline_over_engine", "live_30_e2e_p99"):
        assert isinstance(targets[key]["met"], bool), key
    assert targets["live_30_e2e_p99"]["limit"] == pytest.approx(3 * result["engine_latency_ms"]["p50"] + 30, abs=0.01)
    budget = targets["cpu_budget"]
    assert 0 < budget["max_pipeline_over_engine"] < 1


def test_markdown_and_plots_are_written(quick_run: tuple[dict[str, Any], Path]) -> None:
    result, out = quick_run
    text = (out / "bench.md").read_text()
    assert "| pipeline / sequential |" in text and "## Targets" in text and result["command"] in text
    for name in ("e2e_latency.png", "fps_vs_streams.png", "stage_cpu.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    assert json.loads((out / "bench.json").read_text())["pipeline_fps"] == result["pipeline_fps"]


def test_missing_bundled_model_is_a_one_line_user_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import engines.weights

    monkeypatch.setattr(engines.weights, "default_model_path", lambda: tmp_path / "absent.onnx")
    assert main(["--quick", "--mode", "engine", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "python -m engines.models.export" in err and "--model PATH" in err


def test_bad_override_is_a_one_line_user_error(tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--mode", "engine", "--model", str(tiny_model), "--set", "runtime.infer_wrokers=2",
                 "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "runtime.infer_workers" in err
