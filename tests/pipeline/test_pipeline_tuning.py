"""The tuning ``python -m bench`` justified: several inference workers with results kept in order,
a bounded number of frames in flight when live, and ONNX Runtime threads that do not spin."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import pipeline.stages.infer as infer_module
from engines.registry import open_engine
from pipeline import CallbackSink, Config, Frame, Pipeline, SegResult, SourceInfo
from pipeline.config import load_config
from pipeline.contracts import infer_workers
from pipeline.errors import PipelineError
from pipeline.stages.preprocess import PreprocessStage
from segcore.errors import ConfigError

H, W = 90, 160


class CountingSource:
    """``count`` frames, each filled with its index (so order can be checked from the pixels)."""

    def __init__(self, source_id: str = "cam", count: int = 24, *, live: bool = False, interval: float = 0.0) -> None:
        self.source_id = source_id
        self.count = count
        self.live = live
        self.interval = interval
        self._next = 0
        self._closed = threading.Event()

    def open(self) -> SourceInfo:
        return SourceInfo(uri=f"test://{self.source_id}", width=W, height=H, fps=30.0,
                          frame_count=None if self.live else self.count, is_live=self.live)

    @property
    def info(self) -> SourceInfo:
        return self.open()

    def read(self) -> Frame | None:
        if self._next >= self.count or self._closed.is_set():
            return None
        if self.interval:
            self._closed.wait(self.interval)
        index = self._next
        self._next += 1
        image = np.full((H, W, 3), index % 256, dtype=np.uint8)
        return Frame(image=image, source_id=self.source_id, index=index, pts=index / 30.0,
                     capture_time=time.monotonic())

    def close(self) -> None:
        self._closed.set()

    def stats(self) -> dict[str, int | float | str]:
        return {"frames": self._next}


def uneven_engine(monkeypatch: pytest.MonkeyPatch, delay: Callable[[int], float]) -> set[str]:
    """Wrap the real engine so call N sleeps ``delay(first pixel of the batch)``; returns the threads used."""
    real_open = infer_module.open_engine
    threads: set[str] = set()

    def opener(*args: Any, **kwargs: Any) -> Any:
        engine: Any = real_open(*args, **kwargs)
        real_infer = engine.infer
        engine.warmup = lambda iterations=3: None

        def infer(batch: np.ndarray) -> np.ndarray:
            threads.add(threading.current_thread().name)
            time.sleep(delay(int(batch.reshape(-1)[0])))
            return real_infer(batch)

        engine.infer = infer
        return engine

    monkeypatch.setattr(infer_module, "open_engine", opener)
    return threads


def config(**values: Any) -> Config:
    return load_config(values={"render.hud": False, "render.legend": False, **values})


def test_two_workers_keep_every_frame_in_order(tiny_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # even frames are slow, odd frames fast: with two workers the odd ones finish first
    threads = uneven_engine(monkeypatch, lambda index: 0.03 if index % 2 == 0 else 0.0)
    seen: list[tuple[str, int]] = []
    sources = [CountingSource("a", 16), CountingSource("b", 16)]
    pipe = Pipeline(sources, [CallbackSink(lambda r: seen.append((r.frame.source_id, r.frame.index)))],
                    model=tiny_model, config=config(**{"runtime.infer_workers": 2}))
    stats = pipe.run()
    assert stats["frames"] == 32 and stats["dropped"] == 0
    for source_id in ("a", "b"):
        assert [i for s, i in seen if s == source_id] == list(range(16))
    assert len(threads) == 2  # both workers ran the engine


def test_two_workers_with_batches_keep_order(tiny_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    uneven_engine(monkeypatch, lambda index: 0.02 if index % 3 == 0 else 0.0)
    seen: list[tuple[str, int]] = []
    sources = [CountingSource(f"s{k}", 9) for k in range(3)]
    pipe = Pipeline(sources, [CallbackSink(lambda r: seen.append((r.frame.source_id, r.frame.index)))],
                    model=tiny_model,
                    config=config(**{"runtime.infer_workers": 2, "runtime.batch_size": 3, "model.threads": 1}))
    assert pipe.run()["frames"] == 27
    for k in range(3):
        assert [i for s, i in seen if s == f"s{k}"] == list(range(9))


def test_a_failing_worker_fails_the_pipeline(tiny_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def delay(index: int) -> float:
        if index == 5:
            raise RuntimeError("worker lost its engine")
        return 0.0

    uneven_engine(monkeypatch, delay)
    pipe = Pipeline([CountingSource("a", 40)], model=tiny_model, config=config(**{"runtime.infer_workers": 2}))
    with pytest.raises(PipelineError, match="worker lost its engine"):
        pipe.run()


def test_auto_workers_two_for_onnx_on_a_multicore_cpu(tiny_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert infer_workers(config(), tiny_model) == 2
    assert infer_workers(config(**{"runtime.infer_workers": 3}), tiny_model) == 3
    assert infer_workers(config(**{"model.device": "cuda"}), tiny_model) == 1
    assert infer_workers(config(), tiny_model.with_suffix(".engine")) == 1
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    assert infer_workers(config(), tiny_model) == 1


def test_auto_workers_split_the_cores(tiny_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    opened: list[Any] = []
    real_open = infer_module.open_engine

    def opener(*args: Any, **kwargs: Any) -> Any:
        opened.append(kwargs["threads"])
        return real_open(*args, **kwargs)

    monkeypatch.setattr(infer_module, "open_engine", opener)
    Pipeline([CountingSource("a", 3)], model=tiny_model, config=config()).run()
    assert opened == [4, 4]


def test_negative_workers_is_a_config_error(tiny_model: Path) -> None:
    with pytest.raises(ConfigError, match="runtime.infer_workers"):
        Pipeline([CountingSource("a", 3)], model=tiny_model, config=config(**{"runtime.infer_workers": -1}))


@pytest.mark.parametrize("workers", [1, 2])
def test_live_keeps_few_frames_in_flight(
    tiny_model: Path, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    """A saturated live pipeline holds no stale frames between its stages: the newest waits at capture."""
    uneven_engine(monkeypatch, lambda index: 0.02)
    lock = threading.Lock()
    in_flight = [0, 0]  # now, most

    real_process = PreprocessStage.process

    def process(self: PreprocessStage, frame: Frame) -> Any:
        with lock:
            in_flight[0] += 1
            in_flight[1] = max(in_flight[1], in_flight[0])
        return real_process(self, frame)

    def done(result: SegResult) -> None:
        with lock:
            in_flight[0] -= 1

    monkeypatch.setattr(PreprocessStage, "process", process)
    source = CountingSource("cam", 60, live=True, interval=0.002)  # ~500 fps offered, ~50 fps served per worker
    pipe = Pipeline([source], [CallbackSink(done)], model=tiny_model,
                    config=config(**{"runtime.infer_workers": workers, "model.threads": 1}))
    stats = pipe.run()
    assert stats["dropped"] > 0  # saturated: the capture queue dropped frames
    assert 0 < stats["frames"] < 60
    assert in_flight[1] <= max(3, workers + 1)  # every engine busy, one ready, at least three


def test_onnxruntime_threads_do_not_spin_unless_asked(tiny_model: Path) -> None:
    def spinning(engine: Any) -> str:
        return str(engine._session.get_session_options().get_session_config_entry("session.intra_op.allow_spinning"))

    assert spinning(open_engine(tiny_model)) == "0"
    assert spinning(open_engine(tiny_model, spinning=True)) == "1"
    with pytest.raises(ConfigError, match="spinning"):
        open_engine(tiny_model, spinning="yes")
