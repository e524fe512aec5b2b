"""The threaded pipeline with real tiny ONNX models: offline, live, stop, failures, several sources,
batching, contracts and the embedding API (push source + callback / latest sinks)."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import pipeline.stages.infer as infer_module
from engines.errors import ModelError
from pipeline import (
    CallbackSink,
    Config,
    Frame,
    LatestSink,
    Pipeline,
    PushSource,
    Segmenter,
    SegResult,
    SourceInfo,
)
from pipeline.errors import PipelineError
from segcore.errors import ConfigError
from tests.pipeline.waiting import wait_until

H, W = 180, 320


# --------------------------------------------------------------------------- test doubles


class ListSource:
    """A source of ``count`` synthetic frames; optional pacing, blocking, failure, labels."""

    def __init__(
        self,
        source_id: str = "list",
        count: int = 20,
        *,
        live: bool = False,
        interval: float = 0.0,
        fps: float = 30.0,
        block_at: int | None = None,  # read() blocks from this index on (until close, or forever)
        close_unblocks: bool = True,
        fail_at: int | None = None,
        labels: Callable[[np.ndarray], np.ndarray] | None = None,
        size: tuple[int, int] = (H, W),
    ) -> None:
        self.source_id = source_id
        self.count = count
        self.live = live
        self.interval = interval
        self.fps = fps
        self.block_at = block_at
        self.close_unblocks = close_unblocks
        self.fail_at = fail_at
        self.labels = labels
        self.size = size
        self.index = 0
        self.closed = threading.Event()
        self.forever = threading.Event()  # never set
        self.blocked = threading.Event()  # set once read() blocks at block_at
        self.close_calls = 0
        rng = np.random.default_rng(abs(hash(source_id)) % 2**32)
        self.images = [rng.integers(0, 256, (*size, 3), dtype=np.uint8) for _ in range(min(count, 8))]

    def open(self) -> SourceInfo:
        return self.info

    @property
    def info(self) -> SourceInfo:
        return SourceInfo(
            uri=f"list://{self.source_id}", width=self.size[1], height=self.size[0], fps=self.fps,
            frame_count=None if self.live else self.count, is_live=self.live,
        )

    def read(self) -> Frame | None:
        if self.block_at is not None and self.index >= self.block_at:
            self.blocked.set()
            (self.closed if self.close_unblocks else self.forever).wait()
            return None
        if self.closed.is_set() or self.index >= self.count:
            return None
        if self.interval:
            time.sleep(self.interval)
        if self.fail_at is not None and self.index == self.fail_at:
            raise RuntimeError("camera exploded")
        image = self.images[self.index % len(self.images)]
        labels = self.labels(image) if self.labels is not None else None
        frame = Frame(image, self.source_id, self.index, self.index / self.fps, time.monotonic(), labels)
        self.index += 1
        return frame

    def close(self) -> None:
        self.close_calls += 1
        self.closed.set()

    def stats(self) -> dict[str, int | float | str]:
        return {"frames": self.index}


class RecordingSink:
    def __init__(
        self, name: str = "record", delay: float = 0.0, fail_at: int | None = None, hold_at: int | None = None
    ) -> None:
        self.name = name
        self.delay = delay
        self.fail_at = fail_at
        self.hold_at = hold_at  # write() of this result waits for ``release``
        self.release = threading.Event()
        self.results: list[SegResult] = []
        self.arrivals: list[float] = []
        self.opened: Mapping[str, SourceInfo] | None = None
        self.closed = 0

    def open(self, sources: Mapping[str, SourceInfo]) -> None:
        self.opened = dict(sources)

    def write(self, result: SegResult) -> None:
        if self.fail_at is not None and len(self.results) == self.fail_at:
            raise OSError("disk full")
        if self.hold_at is not None and len(self.results) == self.hold_at:
            self.release.wait(30.0)
        if self.delay:
            time.sleep(self.delay)
        self.results.append(result)
        self.arrivals.append(time.monotonic())

    def close(self) -> None:
        self.closed += 1


@pytest.fixture
def engine_hook(monkeypatch: pytest.MonkeyPatch) -> Callable[..., list[int]]:
    """Wrap the real engine: optional delay per call, failure on call N; returns the batch sizes."""

    def install(delay: float = 0.0, fail_on_call: int | None = None) -> list[int]:
        real_open = infer_module.open_engine
        batches: list[int] = []

        def opener(*args: Any, **kwargs: Any) -> Any:
            engine = real_open(*args, **kwargs)
            real_infer = engine.infer
            engine.warmup = lambda iterations=3: None  # keep the recorded calls to real frames

            def infer(batch: np.ndarray) -> np.ndarray:
                batches.append(len(batch))
                if fail_on_call is not None and len(batches) == fail_on_call:
                    raise RuntimeError("GPU fell off the bus")
                if delay:
                    time.sleep(delay)
                return real_infer(batch)

            engine.infer = infer
            return engine

        monkeypatch.setattr(infer_module, "open_engine", opener)
        return batches

    return install


def config(**sections: dict[str, Any]) -> Config:
    """``Config()`` with some keys of some sections replaced: ``config(runtime={"batch_size": 4})``."""
    defaults = Config()
    return replace(defaults, **{name: replace(getattr(defaults, name), **values) for name, values in sections.items()})


# --------------------------------------------------------------------------- offline


def test_offline_every_frame_in_order_no_drops(tiny_model: Path) -> None:
    source = ListSource(count=40)
    sink = RecordingSink()
    pipe = Pipeline([source], [sink], model=tiny_model)
    summary = pipe.run()
    assert [r.frame.index for r in sink.results] == list(range(40))
    assert summary["frames"] == 40 and summary["dropped"] == 0
    assert all(q["dropped"] == 0 and q["policy"] == "block" for q in summary["queues"].values())
    first = sink.results[0]
    assert first.class_map.shape == (H, W) and first.class_map.dtype == np.uint8
    assert first.rendered is not None and first.rendered.shape == (H, W, 3)
    assert first.fractions.shape == (19,) and first.fractions.sum() == pytest.approx(1.0)
    assert {"preprocess", "infer", "postprocess", "render", "e2e"} <= set(first.timings_ms)
    assert set(summary["stage_latency_ms"]) >= {"read", "preprocess", "infer", "postprocess", "render", "sink:record"}
    assert set(summary["e2e_latency_ms"]) == {"p50", "p95", "p99"}
    assert summary["sources"]["list"]["frames"] == 40 and summary["sources"]["list"]["state"] == "finished"
    assert summary["state"] == "finished" and "miou" not in summary
    assert sink.opened is not None and sink.opened["list"].width == W and sink.closed == 1
    assert source.close_calls >= 1


def test_results_match_the_synchronous_segmenter(tiny_logits_model: Path) -> None:
    source = ListSource(count=5)
    sink = RecordingSink()
    Pipeline(source, sink, model=tiny_logits_model, config=config(preprocess={"resize": "letterbox"})).run()
    with Segmenter.from_model(tiny_logits_model, resize="letterbox") as seg:
        for result in sink.results:
            expected = seg.segment(result.frame.image)
            np.testing.assert_array_equal(result.class_map, expected.class_map)
            np.testing.assert_allclose(result.fractions, expected.fractions)


def test_streamed_miou_is_one_when_labels_are_the_models_own_answer(tiny_model: Path) -> None:
    """Alignment end to end: labels = the synchronous segmentation → streamed mIoU exactly 1."""
    truth: dict[int, np.ndarray] = {}
    source = ListSource(count=16, labels=lambda image: truth[id(image)])
    with Segmenter.from_model(tiny_model, resize="letterbox") as seg:
        truth.update({id(img): seg.segment(img).class_map for img in source.images})
    summary = Pipeline(source, model=tiny_model, config=config(preprocess={"resize": "letterbox"})).run()
    assert summary["miou"] == 1.0 and summary["labelled_frames"] == 16
    assert summary["sources"]["list"]["miou"] == 1.0


def test_max_frames_limits_each_source(tiny_model: Path) -> None:
    sink = RecordingSink()
    Pipeline([ListSource("a", 30), ListSource("b", 30)], sink, model=tiny_model,
             config=config(runtime={"max_frames": 7})).run()
    counts = {sid: sum(r.frame.source_id == sid for r in sink.results) for sid in ("a", "b")}
    assert counts == {"a": 7, "b": 7}


# --------------------------------------------------------------------------- live


def test_live_source_faster_than_pipeline_drops_and_keeps_latency_bounded(
    tiny_model: Path, engine_hook: Callable[..., list[int]]
) -> None:
    engine_hook(delay=0.03)  # the engine manages ~33 fps; the camera delivers ~200 fps
    source = ListSource(count=400, live=True, interval=0.005)
    sink = RecordingSink()
    summary = Pipeline(source, sink, model=tiny_model).run()
    latencies = [(t - r.frame.capture_time) * 1000 for r, t in zip(sink.results, sink.arrivals, strict=True)]
    assert summary["dropped"] > 100
    assert summary["queues"]["capture:list"]["policy"] == "drop_oldest"
    assert summary["queues"]["capture:list"]["dropped"] == summary["sources"]["list"]["dropped"] > 100
    third = len(latencies) // 3
    assert len(latencies) > 30
    # bounded: a handful of frames in flight at 30 ms each, never a growing backlog
    assert max(latencies[third:]) < 400
    assert np.median(latencies[-third:]) < np.median(latencies[:third]) + 60
    indices = [r.frame.index for r in sink.results]
    assert indices == sorted(indices)  # newest frames win, but order is kept


def test_pace_replays_a_recording_at_its_fps_as_live(tiny_model: Path) -> None:
    source = ListSource(count=10, fps=50.0)
    started = time.monotonic()
    summary = Pipeline(source, model=tiny_model, config=config(source={"pace": True})).run()
    assert time.monotonic() - started >= 9 / 50.0 * 0.9
    assert summary["live"] is True and summary["sources"]["list"]["live"] is True
    assert summary["queues"]["capture:list"]["policy"] == "drop_oldest"


def test_mode_offline_overrides_a_live_source(tiny_model: Path) -> None:
    source = ListSource(count=20, live=True)
    summary = Pipeline(source, model=tiny_model, config=config(source={"mode": "offline"})).run()
    assert summary["frames"] == 20 and summary["dropped"] == 0


# --------------------------------------------------------------------------- stop and failures


def test_stop_is_prompt_while_a_source_read_blocks(tiny_model: Path) -> None:
    source = ListSource(count=100, live=True, block_at=3)
    sink = RecordingSink()
    pipe = Pipeline(source, sink, model=tiny_model)
    pipe.start()
    wait_until(lambda: sink.results and source.blocked.is_set(), what="result before the read blocked")
    started = time.monotonic()
    pipe.stop()
    assert time.monotonic() - started < 0.5  # stop() does not wait for the blocked read
    assert pipe.join(timeout=2.0)
    assert time.monotonic() - started < 1.5
    assert source.close_calls >= 1  # the stuck read was released by closing the source
    assert pipe.state == "stopped" and sink.closed == 1


def test_stop_returns_even_if_a_read_never_returns(tiny_model: Path) -> None:
    source = ListSource(count=100, live=True, block_at=2, close_unblocks=False)
    pipe = Pipeline(source, model=tiny_model)
    pipe.start()
    assert source.blocked.wait(10.0)
    started = time.monotonic()
    pipe.stop()
    assert pipe.join(timeout=2.0)
    assert time.monotonic() - started < 1.5


def test_offline_stop_drains_what_is_queued(tiny_model: Path, engine_hook: Callable[..., list[int]]) -> None:
    engine_hook(delay=0.02)
    source = ListSource(count=1000)
    sink = RecordingSink()
    pipe = Pipeline(source, sink, model=tiny_model)
    pipe.start()
    wait_until(lambda: len(sink.results) >= 3, what="first results")
    pipe.stop()
    assert pipe.join(timeout=5.0)
    summary = pipe.stats()
    assert summary["dropped"] == 0 and len(sink.results) < 1000  # stopped early, nothing queued lost
    assert summary["frames"] == summary["queues"]["capture:list"]["puts"] == len(sink.results)  # all queued, delivered
    assert [r.frame.index for r in sink.results] == list(range(len(sink.results)))


def test_a_failing_stage_stops_everything_and_names_it(
    tiny_model: Path, engine_hook: Callable[..., list[int]]
) -> None:
    engine_hook(fail_on_call=5)
    source = ListSource(count=1000)
    sink = RecordingSink()
    pipe = Pipeline(source, sink, model=tiny_model)
    pipe.start()
    with pytest.raises(PipelineError, match=r"^infer failed: RuntimeError: GPU fell off the bus"):
        pipe.join(timeout=5.0)
    assert pipe.state == "failed" and sink.closed == 1 and source.close_calls >= 1
    assert len(sink.results) < 10
    assert "infer" in pipe.stats()["error"]


def test_a_failing_sink_stops_everything_and_names_it(tiny_model: Path) -> None:
    source = ListSource(count=1000)
    good, bad = RecordingSink("good"), RecordingSink("bad", fail_at=3)
    with pytest.raises(PipelineError, match="sink bad failed: OSError: disk full"):
        Pipeline(source, [good, bad], model=tiny_model).run()
    assert good.closed == 1 and bad.closed == 1


def test_a_failing_callback_is_reported(tiny_model: Path) -> None:
    def callback(result: SegResult) -> None:
        raise ValueError("host bug")

    with pytest.raises(PipelineError, match="sink callback failed: ValueError: host bug"):
        Pipeline(ListSource(count=50), CallbackSink(callback), model=tiny_model).run()


def test_a_failing_source_is_reported(tiny_model: Path) -> None:
    with pytest.raises(PipelineError, match="source cam failed: RuntimeError: camera exploded"):
        Pipeline(ListSource("cam", count=50, fail_at=4), model=tiny_model).run()


def test_a_model_that_cannot_load_fails_start_with_the_user_error(tmp_path: Path, tiny_model: Path) -> None:
    import onnx

    broken = tmp_path / "broken.onnx"
    graph = onnx.load(str(tiny_model))
    graph.graph.node[-1].op_type = "NoSuchOperator"  # a readable graph that ONNX Runtime cannot load
    onnx.save(graph, str(broken))
    shutil.copy(tiny_model.with_suffix(".yaml"), broken.with_suffix(".yaml"))
    source, sink = ListSource(count=5), RecordingSink()
    pipe = Pipeline(source, sink, model=broken)
    with pytest.raises(ModelError, match="ONNX Runtime cannot load .*NoSuchOperator"):
        pipe.start()
    assert source.index == 0  # nothing was read
    assert source.close_calls >= 1 and pipe.state == "failed"


def test_a_file_that_is_not_a_model_is_refused_before_the_pipeline_is_built(tmp_path: Path, tiny_model: Path) -> None:
    broken = tmp_path / "broken.onnx"
    broken.write_text("this is not a model")
    shutil.copy(tiny_model.with_suffix(".yaml"), broken.with_suffix(".yaml"))
    source = ListSource(count=5)
    with pytest.raises(ModelError, match="is not a readable ONNX model"):
        Pipeline(source, RecordingSink(), model=broken)
    assert source.index == 0


def test_the_summary_names_the_engine_that_ran_not_the_request(tiny_model: Path) -> None:
    summary = Pipeline(ListSource(count=3), model=tiny_model).run()  # model.backend/device: auto
    assert summary["model"]["backend"] == "onnxruntime"
    assert summary["model"]["device"] == "cpu"  # this onnxruntime has no GPU provider


def test_a_pipeline_starts_once(tiny_model: Path) -> None:
    pipe = Pipeline(ListSource(count=2), model=tiny_model)
    pipe.run()
    with pytest.raises(RuntimeError, match="already started"):
        pipe.start()


# --------------------------------------------------------------------------- several sources


class Lockstep:
    """Lets no source read frame n+1 before every other unfinished source has read frame n.

    Production is then balanced whatever the thread scheduling, so the order in which the
    pipeline serves the capture queues decides the output order: a round-robin reader keeps the
    sources within a frame or two of each other, a reader that prefers one queue lets that source
    run ahead by a whole capture queue.
    """

    def __init__(self, sources: Sequence[ListSource]) -> None:
        self.sources = list(sources)
        self.cond = threading.Condition()
        for source in self.sources:
            inner = source.read

            def read(source: ListSource = source, inner: Callable[[], Frame | None] = inner) -> Frame | None:
                with self.cond:
                    self.cond.wait_for(lambda: all(
                        other.index >= source.index or other.index >= other.count or other.closed.is_set()
                        for other in self.sources))
                    frame = inner()
                    self.cond.notify_all()
                    return frame

            source.read = read  # type: ignore[method-assign]


def test_several_sources_are_served_fairly(tiny_model: Path) -> None:
    sources = [ListSource("a", 30), ListSource("b", 30), ListSource("c", 30)]
    Lockstep(sources)
    sink = RecordingSink()
    Pipeline(sources, sink, config=config(runtime={"queue_size": 8}), model=tiny_model).run()
    order = [r.frame.source_id for r in sink.results]
    assert len(order) == 90
    for n in range(1, 91):
        counts = [order[:n].count(s) for s in "abc"]
        assert max(counts) - min(counts) <= 3, (n, order[:n])
    for s in "abc":
        assert [r.frame.index for r in sink.results if r.frame.source_id == s] == list(range(30))


class SlowToOpen(ListSource):
    """Its open() returns only once every source of the run is opening: proof that they open at once."""

    def __init__(self, source_id: str, everyone: threading.Barrier) -> None:
        super().__init__(source_id, 3)
        self.everyone = everyone

    def open(self) -> SourceInfo:
        self.everyone.wait()  # BrokenBarrierError after its timeout when the sources open one by one
        return self.info


def test_sources_open_at_the_same_time_and_keep_their_order(tiny_model: Path) -> None:
    """N cameras that each take their open timeout to answer must not take N times as long to start."""
    everyone = threading.Barrier(3, timeout=10)
    sink = RecordingSink()
    pipe = Pipeline([SlowToOpen(name, everyone) for name in ("c", "a", "b")], sink, model=tiny_model)
    pipe.run()
    assert list(pipe.sources) == ["c", "a", "b"]
    assert {sid: sum(r.frame.source_id == sid for r in sink.results) for sid in "cab"} == {"c": 3, "a": 3, "b": 3}


def test_a_finished_or_dead_source_does_not_stall_the_others(tiny_model: Path) -> None:
    short = ListSource("short", 3)
    dead = ListSource("dead", 100, live=True, block_at=0)  # never delivers a frame
    long = ListSource("long", 60, live=True, interval=0.002)
    sink = RecordingSink()
    pipe = Pipeline([short, dead, long], sink, model=tiny_model)
    pipe.start()

    def served() -> bool:
        sources = pipe.stats()["sources"]
        return sources["short"]["state"] == "finished" and sources["long"]["frames"] >= 30

    wait_until(served, what="30 frames from the long source while the dead one blocks")
    pipe.stop()
    assert pipe.join(timeout=3.0)
    stats = pipe.stats()
    assert stats["sources"]["short"]["frames"] == 3 and stats["sources"]["short"]["state"] == "finished"
    assert stats["sources"]["dead"]["frames"] == 0
    assert stats["sources"]["long"]["frames"] >= 30


def test_batches_across_sources_with_a_bounded_wait(
    tiny_model: Path, engine_hook: Callable[..., list[int]]
) -> None:
    batches = engine_hook(delay=0.01)
    sources = [ListSource(f"s{i}", 20) for i in range(4)]
    sink = RecordingSink()
    cfg = config(runtime={"batch_size": 4, "batch_timeout_ms": 50.0})
    summary = Pipeline(sources, sink, model=tiny_model, config=cfg).run()
    assert summary["frames"] == 80 and summary["model"]["batch"] == 4
    assert max(batches) == 4 and sum(batches) == 80
    assert sum(b > 1 for b in batches) >= len(batches) // 2


def test_a_slow_single_source_is_not_held_back_by_batching(
    tiny_model: Path, engine_hook: Callable[..., list[int]]
) -> None:
    batches = engine_hook()
    source = ListSource("slow", 8, live=True, interval=0.08)
    sink = RecordingSink()
    cfg = config(runtime={"batch_size": 8, "batch_timeout_ms": 10.0})
    Pipeline(source, sink, model=tiny_model, config=cfg).run()
    assert max(batches) == 1
    latencies = [(t - r.frame.capture_time) * 1000 for r, t in zip(sink.results, sink.arrivals, strict=True)]
    assert max(latencies) < 300  # never waits for a batch that will not fill (that would be ~600 ms)


# --------------------------------------------------------------------------- contracts


def test_contract_static_size_mismatch(tiny_model: Path) -> None:
    with pytest.raises(ConfigError, match=r"preprocess.size is 128x256 .* fixed 64x128"):
        Pipeline(ListSource(), model=tiny_model, config=config(preprocess={"size": [128, 256]}))


def test_contract_class_count_names_both_numbers(tiny_model: Path) -> None:
    with pytest.raises(ConfigError, match=r"19 classes but model.num_classes is 21"):
        Pipeline(ListSource(), model=tiny_model, config=config(model={"num_classes": 21}))


@pytest.mark.parametrize(("section", "key", "value"), [
    ("postprocess", "upsample", "bilinear"),
    ("postprocess", "smoothing", "ema"),
])
def test_contract_logits_only_options_refuse_a_classmap_model(tiny_model: Path, section: str, key: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"{key}: {value} needs a model that returns logits"):
        Pipeline(ListSource(), model=tiny_model, config=config(**{section: {key: value}}))


@pytest.mark.parametrize(("upsample", "smoothing"), [("bilinear", "ema"), ("nearest", "ema"), ("bilinear", "majority")])
def test_logits_model_with_smoothing_and_bilinear(tiny_logits_model: Path, upsample: str, smoothing: str) -> None:
    sink = RecordingSink()
    cfg = config(postprocess={"upsample": upsample, "smoothing": smoothing})
    summary = Pipeline([ListSource("a", 6), ListSource("b", 6)], sink, model=tiny_logits_model, config=cfg).run()
    assert summary["frames"] == 12 and all(r.class_map.shape == (H, W) for r in sink.results)


def test_missing_model_file(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        Pipeline(ListSource(), model=tmp_path / "nope.onnx")


def test_unique_source_ids_required(tiny_model: Path) -> None:
    with pytest.raises(ValueError, match="unique"):
        Pipeline([ListSource("x"), ListSource("x")], model=tiny_model)


# --------------------------------------------------------------------------- embedding


def test_push_source_with_latest_sink_keeps_host_timestamps(tiny_model: Path) -> None:
    source = PushSource("cam", live=False)
    latest = LatestSink()
    image = np.zeros((H, W, 3), np.uint8)
    with Pipeline([source], [latest], model=tiny_model) as pipe:
        t0 = time.monotonic()
        for i in range(5):
            assert source.push(image, pts=1000.0 + i, capture_time=t0) == i
            result = latest.wait(timeout=5.0)
            assert result is not None and result.frame.pts == 1000.0 + i and result.frame.index == i
            assert result.frame.capture_time == t0
            assert result.latency_ms is not None and result.latency_ms >= 0
        assert pipe.stats()["frames"] >= 4
        source.end()
        pipe.join(timeout=5.0)
    assert latest.latest("cam") is latest.latest() and latest.count == 5
    assert latest.wait(timeout=0.01) is None  # closed, nothing newer


def test_push_source_live_never_blocks_the_host(tiny_model: Path, engine_hook: Callable[..., list[int]]) -> None:
    engine_hook(delay=0.02)
    source = PushSource("cam")  # live: the newest frame wins
    got: list[SegResult] = []
    image = np.zeros((H, W, 3), np.uint8)
    with Pipeline(source, CallbackSink(got.append), model=tiny_model) as pipe:
        started = time.monotonic()
        for i in range(200):
            source.push(image, pts=float(i))
        assert time.monotonic() - started < 2.0  # blocking on the 20 ms engine would take 4 s
        wait_until(lambda: got, what="result")
        assert pipe.live
    assert 0 < len(got) < 200
    assert pipe.stats()["sources"]["cam"]["dropped_at_push"] + pipe.stats()["dropped"] > 0


def _distinct_images(model: Path, count: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``count`` random images and their class maps (by ``Segmenter``), no two maps alike."""
    rng = np.random.default_rng(7)
    images = [rng.integers(0, 256, (H, W, 3), dtype=np.uint8) for _ in range(count)]
    with Segmenter.from_model(model) as seg:
        maps = [seg.segment(image).class_map for image in images]
    assert all(not np.array_equal(a, b) for i, a in enumerate(maps) for b in maps[i + 1 :])
    return images, maps


@pytest.mark.parametrize("copy", [True, False])
def test_push_source_copies_so_a_host_may_reuse_its_buffer(tiny_model: Path, copy: bool) -> None:
    """A host that writes every frame into one buffer gets each frame's own result (by pts) when
    push copies (the default); with copy=False the queued frames alias the buffer, as documented."""
    images, expected = _distinct_images(tiny_model, 5)
    later = images.pop()
    source = PushSource("cam", live=False, capacity=len(images))
    buffer = np.empty_like(images[0])
    for i, image in enumerate(images):  # all queued before the pipeline reads any
        buffer[...] = image
        assert source.push(buffer, pts=float(i), copy=copy) == i
    buffer[...] = later  # the host moves on to its next frame
    source.end()
    got: list[SegResult] = []
    Pipeline(source, CallbackSink(got.append), model=tiny_model).run()
    assert [r.frame.pts for r in got] == [0.0, 1.0, 2.0, 3.0]
    right = [np.array_equal(r.class_map, expected[int(r.frame.pts)]) for r in got]
    assert right == ([True] * 4 if copy else [False] * 4)


def test_push_source_refuses_bad_images() -> None:
    from segcore.errors import SourceError

    source = PushSource("cam")
    with pytest.raises(SourceError, match="uint8"):
        source.push(np.zeros((4, 4), np.float32))  # type: ignore[arg-type]
    source.end()
    with pytest.raises(SourceError, match="ended"):
        source.push(np.zeros((4, 4, 3), np.uint8))


def test_stats_is_a_live_snapshot(tiny_model: Path) -> None:
    sink = RecordingSink(hold_at=20)  # the run pauses after 20 frames until released
    pipe = Pipeline(ListSource(count=60), sink, model=tiny_model)
    pipe.start()
    wait_until(lambda: pipe.stats()["frames"] == 20, what="20 frames")
    middle = pipe.stats()
    sink.release.set()
    assert pipe.join(timeout=10)
    final = pipe.stats()
    assert middle["state"] == "running" and middle["frames"] == 20
    assert final["state"] == "finished" and final["frames"] == 60


def test_synthetic_source_carries_labels_into_the_metrics(tiny_model: Path) -> None:
    pytest.importorskip("streetsim")
    from pipeline.sources.synthetic import SyntheticSource

    source = SyntheticSource("synthetic://street?seed=1&frames=4&size=640x360", source_id="street")
    summary = Pipeline(source, model=tiny_model).run()
    assert summary["frames"] == 4 and summary["labelled_frames"] == 4
    assert 0.0 <= summary["miou"] <= 1.0


def test_labels_of_other_classes_than_the_models_are_not_scored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The street's labels are Cityscapes ids; a 21-class model's ids mean other things: no mIoU
    (it was a meaningless 0.0001), a warning that says why, and the class fractions still there."""
    from pipeline.sources.synthetic import SyntheticSource
    from tests.tiny_models import make_tiny_model

    other = make_tiny_model(tmp_path, name="other_classes", num_classes=21)
    source = SyntheticSource("synthetic://street?seed=1&frames=3&size=320x180", source_id="street")
    summary = Pipeline(source, model=other).run()
    assert summary["frames"] == 3 and "miou" not in summary and summary["sources"]["street"].get("miou") is None
    assert any("its labels are 19 classes (road" in r.getMessage() and "the model's 21" in r.getMessage()
               for r in caplog.records if r.levelname == "WARNING"), caplog.text


def test_a_change_of_resolution_mid_stream_is_followed(tiny_model: Path) -> None:
    """After a reconnect a stream may come back at another size: every stage follows it."""
    small, large = ListSource("cam", 6, size=(90, 160)), ListSource("cam", 6, size=(240, 320))

    class Switching(ListSource):
        def read(self) -> Frame | None:
            part = small if small.index < small.count else large
            frame = part.read()
            if frame is None:
                return None
            return Frame(frame.image, "cam", small.index + large.index - 1, None, frame.capture_time)

    sink = RecordingSink()
    cfg = config(postprocess={"smoothing": "majority"})
    Pipeline(Switching("cam", 12), sink, model=tiny_model, config=cfg).run()
    shapes = [r.class_map.shape for r in sink.results]
    assert shapes == [(90, 160)] * 6 + [(240, 320)] * 6
    assert all(r.rendered is not None and r.rendered.shape[:2] == r.class_map.shape for r in sink.results)
