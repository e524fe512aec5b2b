"""Sources joining a pipeline (at start, and while it runs: ``Pipeline.add_source``) and leaving it
(``Pipeline.remove_source``).

At start, every source is opened at the same time and added in its order. Joining later: the id is reserved and every sink is asked whether it can take a source it was not
opened for (a sink says so with ``add_source``; a video file or a window set up for the sources
given at start cannot, and the join is refused before anything is opened). The source is then
opened on the caller's thread (a camera may take its open timeout); under the pipeline's lock,
if the pipeline still runs, the sinks learn of it, the mux starts reading its capture queue and
its thread starts. A live source cannot join an offline run (that run's queues block and keep
every frame; its stages were connected without the credits that bound a live run's latency); a
file may join a live run, handled as it would have been at start.

Leaving: the source's thread stops reading, the frames still in its capture queue are dropped
(counted), the frames already past it reach the sinks, the source is closed (a live one at
once), and the sinks that keep something per source forget it (a viewer's stream ends). Its
counters stay in ``stats()`` under the state ``removed``. The last source still reading cannot
leave: the run would end; add its replacement first, or stop the run. An id stays taken for the
whole run, so that a removed source's frames still on their way are never counted as another's.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from pipeline.config_schema import SourceConfig
from pipeline.errors import SourceChangeRefused, UnknownSource
from pipeline.failure import quietly
from pipeline.loops import ThreadLoops
from pipeline.metrics import Metrics
from pipeline.queues import QueueClosed
from pipeline.sources.base import Source, SourceInfo
from pipeline.sources.live import LiveSource
from pipeline.threads import PipelineThreads
from pipeline.topology import SourceSlot, Topology

MAX_OPENING = 32  # sources opened at once during start()
STILL_READING = ("open", "reading")


@dataclass(eq=False)
class Membership:
    """Adds and removes the sources of one running pipeline; every method may be called from any thread."""

    lock: threading.Lock  # the pipeline's: guards its state, the topology's lists and the reservations
    running: Callable[[], bool]  # the pipeline runs and has not been asked to stop (the lock held)
    stopping: threading.Event  # the pipeline's stop signal
    topology: Topology
    threads: PipelineThreads
    loops: ThreadLoops
    metrics: Metrics
    opening: set[Source]  # the pipeline's: sources being opened, which stop() closes
    on_joined: Callable[[str, SourceInfo], None]  # what the pipeline does for every source it scores

    def __post_init__(self) -> None:
        self._reserved: set[str] = set()

    def open_at_start(self, sources: Sequence[Source]) -> None:
        """Open the sources given at start, at the same time (a camera may take its whole open
        timeout to answer: N of them one after another would take N times as long), then add them
        in their order. The first error in source order is raised; the sources opened meanwhile
        are closed by the caller."""
        infos: list[SourceInfo | None] = [None] * len(sources)
        errors: list[BaseException | None] = [None] * len(sources)

        def open_one(index: int) -> None:
            source = sources[index]
            with self.lock:
                if self.stopping.is_set():
                    return
                self.opening.add(source)
            try:
                infos[index] = source.open()
            except BaseException as exc:  # handed to start()'s thread, which raises it
                errors[index] = exc
            finally:
                with self.lock:
                    self.opening.discard(source)

        if len(sources) == 1:
            open_one(0)
        else:
            with ThreadPoolExecutor(min(MAX_OPENING, len(sources)), thread_name_prefix="source-open") as pool:
                list(pool.map(open_one, range(len(sources))))
        for source, info, error in zip(sources, infos, errors, strict=True):
            if error is not None:
                if self.stopping.is_set():  # closed by stop() as its open began: the stop explains it
                    return
                raise error
            if info is None:  # stop() came before this source was opened
                return
            self.topology.add_source(source, info)
            self.metrics.add_source(source.source_id)
            self.on_joined(source.source_id, info)

    def source_for(self, uri: str, source_id: str | None, config: SourceConfig,
                   on_status: Callable[[Any], None] | None) -> Source:
        """The source for ``uri`` (not opened), named ``source_id`` or like the sources given at start."""
        from pipeline.sources import open_source, source_id_for

        with self.lock:
            taken = self._taken()
        source_id = source_id or source_id_for(uri, len(taken), taken)
        return open_source(uri, source_id=source_id, config=config, on_status=on_status)

    def add(self, source: Source) -> SourceInfo:
        source_id = source.source_id
        with self.lock:
            self._check_running("add a source")
            if source_id in self._taken():
                raise SourceChangeRefused(f"source id {source_id!r} is taken in this run (ids stay taken after a "
                                          "source is removed); give another id")
            for slot in self.topology.sinks:
                if getattr(slot.sink, "add_source", None) is None:
                    raise SourceChangeRefused(
                        f"output {slot.name} was set up for the sources given at start and cannot take another; "
                        f"run the new source in a segstream of its own, or start this one without that output")
            if isinstance(source, LiveSource) and not self.topology.live:  # known before opening: no connection tried
                raise self._live_into_offline(source_id)
            self._reserved.add(source_id)
            self.opening.add(source)
        try:
            try:
                info = source.open()
            finally:
                with self.lock:
                    self.opening.discard(source)
            self._join(source, info)
        except BaseException:
            quietly(source.close)
            raise
        finally:
            with self.lock:
                self._reserved.discard(source_id)
        return info

    def _join(self, source: Source, info: SourceInfo) -> None:
        source_id = source.source_id
        with self.lock:
            self._check_running("add a source")
            slot = self.topology.slot_for(source, info)
            if slot.live and not self.topology.live:
                raise self._live_into_offline(source_id)
            told: list[object] = []
            try:
                for sink_slot in self.topology.sinks:
                    sink_slot.sink.add_source(source_id, info)  # type: ignore[attr-defined]
                    told.append(sink_slot.sink)
                self.metrics.add_source(source_id)
                self.topology.join(slot)
            except BaseException as exc:
                for sink in told:
                    with contextlib.suppress(Exception):
                        sink.remove_source(source_id)  # type: ignore[attr-defined]
                if isinstance(exc, QueueClosed):
                    raise SourceChangeRefused(f"cannot add source {source_id}: the run is ending (every source "
                                              "before it has ended)") from None
                raise
            self.on_joined(source_id, info)
            slot.state = "reading"
            self.threads.start([slot], self.loops.source)

    def remove(self, source_id: str) -> None:
        with self.lock:
            self._check_running("remove a source")
            slot = self._find(source_id)
            reading = [s for s in self.topology.sources if s.state in STILL_READING and not s.leaving.is_set()]
            if reading == [slot]:
                raise SourceChangeRefused(
                    f"source {source_id} is the only one still reading: removing it would end the run; "
                    "add its replacement first, or stop segstream")
            slot.leaving.set()
            if slot.state not in STILL_READING:  # it had ended already: nothing reads it
                slot.state = "removed"
            slot.queue.close()
            slot.queue.clear()
        for sink_slot in self.topology.sinks:
            forget = getattr(sink_slot.sink, "remove_source", None)
            if forget is not None:
                forget(source_id)
        self.threads.close_stuck_sources_later([slot])

    def _taken(self) -> list[str]:
        """Every id used in this run (the lock held): its sources, removed ones too, and those joining now."""
        return [slot.source.source_id for slot in self.topology.sources] + sorted(self._reserved)

    def _find(self, source_id: str) -> SourceSlot:
        for slot in self.topology.sources:
            if slot.source.source_id == source_id and not slot.leaving.is_set():
                return slot
        known = [s.source.source_id for s in self.topology.sources if not s.leaving.is_set()]
        raise UnknownSource(f"no source {source_id!r} in this run; its sources: {', '.join(known) or 'none'}")

    @staticmethod
    def _live_into_offline(source_id: str) -> SourceChangeRefused:
        return SourceChangeRefused(
            f"source {source_id} is live and this run is offline (every frame of its files, in order); "
            "start the run with source.mode=live to mix cameras in")

    def _check_running(self, what: str) -> None:
        if not self.running():
            raise SourceChangeRefused(f"cannot {what}: the pipeline is not running")
