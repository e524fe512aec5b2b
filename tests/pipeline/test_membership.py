"""Sources joining and leaving a running pipeline (``Pipeline.add_source`` / ``remove_source``).

Real synthetic streets through the real pipeline and ONNX Runtime session: a source added while
running delivers every frame in order (offline) and shares the engine with the others; a removed
source stops, is closed and stays in the summary as ``removed``; and every refusal leaves the run
as it was (nothing opened, nothing lost).
"""

from __future__ import annotations

import dataclasses
import threading
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from pipeline import CallbackSink, Pipeline, SegResult, SourceError, load_config
from pipeline.config_schema import SourceConfig
from pipeline.errors import SourceChangeRefused, UnknownSource
from pipeline.sources.base import SourceInfo
from pipeline.sources.synthetic import SyntheticSource
from tests.pipeline.waiting import wait_until

ENDLESS = "synthetic://street?size=160x96&seed={seed}&fps=30"
FINITE = "synthetic://street?size=160x96&seed={seed}&fps=30&frames={frames}"


class Collected:
    """Every result's (source, frame index), per source, from the sink's thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.indices: dict[str, list[int]] = defaultdict(list)

    def __call__(self, result: SegResult) -> None:
        with self.lock:
            self.indices[result.frame.source_id].append(result.frame.index)

    def count(self, source_id: str) -> int:
        with self.lock:
            return len(self.indices[source_id])


def started(model: Path, uris: Sequence[str], settings: Sequence[str] = (), sinks: Sequence[object] = ()) -> tuple[Pipeline, Collected]:
    collected = Collected()
    config = load_config(None, [f"model.path={model}", "source.synthetic_cache=null", "runtime.infer_workers=1",
                                "model.threads=1", *settings], values={"source.uris": list(uris)})
    pipeline = Pipeline.from_config(config, sinks=[CallbackSink(collected), *sinks])  # type: ignore[list-item]
    pipeline.start()
    return pipeline, collected


def ended(pipeline: Pipeline) -> None:
    pipeline.stop()
    assert pipeline.join(timeout=20.0)


def test_a_source_added_to_an_offline_run_delivers_every_frame_in_order(tiny_model: Path) -> None:
    pipeline, collected = started(tiny_model, [ENDLESS.format(seed=1)])
    try:
        wait_until(lambda: collected.count("street") > 0, what="a first result")
        assert pipeline.add_source(FINITE.format(seed=2, frames=25), source_id="second") == "second"
        info = pipeline.sources["second"]
        assert (info.width, info.height, info.is_live) == (160, 96, False)
        wait_until(lambda: pipeline.stats()["sources"]["second"]["state"] == "finished", what="the end of the added source")
        wait_until(lambda: collected.count("second") == 25, what="every frame of the added source")
    finally:
        ended(pipeline)
    assert collected.indices["second"] == list(range(25))  # every frame, in order, nothing lost
    first = collected.indices["street"]
    assert first == list(range(len(first)))
    summary = pipeline.stats()
    assert summary["sources"]["second"]["frames"] == 25
    assert summary["state"] == "stopped"


def test_a_removed_source_stops_is_closed_and_stays_in_the_summary(tiny_model: Path) -> None:
    pipeline, collected = started(tiny_model, [ENDLESS.format(seed=1), ENDLESS.format(seed=2)], ["source.pace=true"])
    ids = list(pipeline.sources)
    try:
        wait_until(lambda: all(collected.count(i) > 2 for i in ids), what="results of both sources")
        pipeline.remove_source(ids[1])
        slot = next(s for s in pipeline._topology.sources if s.source.source_id == ids[1])
        wait_until(lambda: slot.thread is not None and not slot.thread.is_alive(), what="the removed source's thread to end")
        settled = collected.count(ids[1])
        before = collected.count(ids[0])
        wait_until(lambda: collected.count(ids[0]) > before + 5, what="the other source going on")
        assert collected.count(ids[1]) == settled  # nothing more of the removed source
        assert slot.closing  # closed
        assert pipeline.stats()["sources"][ids[1]]["state"] == "removed"
        with pytest.raises(UnknownSource, match="no source"):
            pipeline.remove_source(ids[1])
        with pytest.raises(SourceChangeRefused, match="only one still reading"):
            pipeline.remove_source(ids[0])
        with pytest.raises(SourceChangeRefused, match="taken"):  # an id stays taken for the run
            pipeline.add_source(ENDLESS.format(seed=3), source_id=ids[1])
    finally:
        ended(pipeline)
    assert pipeline.stats()["sources"][ids[1]]["state"] == "removed"
    assert pipeline.state.value == "stopped"


class CountingSource(SyntheticSource):
    """A real synthetic street that records whether it was opened and closed."""

    def __init__(self, uri: str, source_id: str) -> None:
        super().__init__(uri, source_id=source_id, config=SourceConfig(synthetic_cache=None))
        self.opened = self.closed = False

    def open(self) -> SourceInfo:
        self.opened = True
        return super().open()

    def close(self) -> None:
        self.closed = True
        super().close()


class LiveStreet(CountingSource):
    def open(self) -> SourceInfo:
        return dataclasses.replace(super().open(), is_live=True)


class StartOnlySink:
    """A sink set up for the sources given at start (no ``add_source``), like a video file per source."""

    name = "fixed"

    def open(self, sources: Mapping[str, SourceInfo]) -> None:
        pass

    def write(self, result: SegResult) -> None:
        pass

    def close(self) -> None:
        pass


def test_refusals_leave_the_run_as_it_was(tiny_model: Path) -> None:
    pipeline, collected = started(tiny_model, [ENDLESS.format(seed=1)])
    try:
        wait_until(lambda: collected.count("street") > 0, what="a first result")
        live = LiveStreet(ENDLESS.format(seed=4), "cam")
        with pytest.raises(SourceChangeRefused, match="live and this run is offline"):
            pipeline.add_source(live)
        assert live.opened and live.closed
        with pytest.raises(SourceError):
            pipeline.add_source("synthetic://nowhere?size=10x10")
        with pytest.raises(SourceChangeRefused, match="taken"):
            pipeline.add_source(ENDLESS.format(seed=2), source_id="street")
        assert list(pipeline.stats()["sources"]) == ["street"]
    finally:
        ended(pipeline)
    late = CountingSource(ENDLESS.format(seed=5), "late")
    with pytest.raises(SourceChangeRefused, match="not running"):
        pipeline.add_source(late)
    assert not late.opened


def test_an_output_fixed_at_start_refuses_a_new_source_before_opening_it(tiny_model: Path) -> None:
    pipeline, collected = started(tiny_model, [ENDLESS.format(seed=1)], sinks=[StartOnlySink()])
    try:
        source = CountingSource(ENDLESS.format(seed=2), "other")
        with pytest.raises(SourceChangeRefused, match="output fixed was set up for the sources given at start"):
            pipeline.add_source(source)
        assert not source.opened
    finally:
        ended(pipeline)


def test_the_run_ends_when_the_sources_left_have_ended(tiny_model: Path) -> None:
    pipeline, collected = started(tiny_model, [ENDLESS.format(seed=1), FINITE.format(seed=2, frames=300)])
    try:
        wait_until(lambda: collected.count("street") > 0, what="a first result")
        ids = list(pipeline.sources)
        pipeline.remove_source(ids[0])
        assert pipeline.join(timeout=20.0)  # the finite one ends by itself: the run ends
    finally:
        ended(pipeline)
    summary = pipeline.stats()
    assert summary["state"] == "finished"
    assert summary["sources"][ids[0]]["state"] == "removed"
    assert summary["sources"][ids[1]]["frames"] == 300


def test_a_camera_is_refused_by_an_offline_run_before_any_connection(tiny_model: Path) -> None:
    import socket

    listener = socket.create_server(("127.0.0.1", 0))  # a camera address that would see a connection
    listener.settimeout(0.5)
    pipeline, collected = started(tiny_model, [ENDLESS.format(seed=1)])
    try:
        wait_until(lambda: collected.count("street") > 0, what="a first result")
        with pytest.raises(SourceChangeRefused, match="live and this run is offline"):
            pipeline.add_source(f"rtsp://127.0.0.1:{listener.getsockname()[1]}/cam")
        with pytest.raises(TimeoutError):
            listener.accept()  # nobody connected
    finally:
        listener.close()
        ended(pipeline)


def test_the_expected_frame_count_follows_the_sources(tiny_model: Path) -> None:
    """What the progress bar is sized by: a finite source added counts its frames, one removed
    counts what it read and was not dropped."""
    pipeline, collected = started(tiny_model, [FINITE.format(seed=1, frames=4000)])
    try:
        assert pipeline.expected_frames() == 4000
        pipeline.add_source(FINITE.format(seed=2, frames=4000), source_id="second")
        assert pipeline.expected_frames() == 8000
        pipeline.remove_source("second")
        slot = next(s for s in pipeline._topology.sources if s.source.source_id == "second")
        wait_until(lambda: slot.thread is not None and not slot.thread.is_alive(), what="the removed source's thread to end")
        assert pipeline.expected_frames() == 4000 + slot.frames_read - slot.queue.dropped
    finally:
        pipeline.stop(drain=False)
        assert pipeline.join(timeout=20.0)
    delivered = pipeline.stats()["sources"]["second"]["frames"]
    assert delivered <= slot.frames_read - slot.queue.dropped
