"""Who feeds whom: the queues between the pipeline's threads, and one slot per thread.

::

    source a ─▶ [capture:a] ─┐
    source b ─▶ [capture:b] ─┴─▶ mux (round robin) ─▶ preprocess ─▶ [infer] ─▶ infer ×N (in order)
        ─▶ [postprocess] ─▶ postprocess ─▶ [render] ─▶ render ─┬─▶ [sink:video] ─▶ video
                                                               └─▶ [sink:jsonl] ─▶ jsonl

``[name]`` is a bounded queue; every source, stage worker and sink runs on a thread of its own.

Each source has its own capture queue and the mux reads them in turn, so a dead, slow or finished
source never stalls the others. The infer stage batches frames across sources up to
``runtime.batch_size`` with a bounded wait; several infer workers take frames in turn and hand
their results on in the order taken, so files stay in order.

A live pipeline (a live source, ``source.mode: live``, or ``source.pace``) gives each source a
capture queue of one frame that drops the oldest: the newest frame wins and latency stays
bounded. The queues after it block, with small capacity, and credits let the first stage take a
frame only while fewer than max(3, engines × batch + 1) are on their way to the sinks, so no
stage sits on a stale frame while the engine is busy: a saturated pipeline keeps its frames
waiting in the capture queue, where newer ones replace them (at 60 fps on 2 cores this halved the
e2e p99). Offline, every queue blocks and holds ``runtime.queue_size`` items: every frame, in
order, nothing dropped. The slots record what each thread reads and writes and, for sources,
how it ended; ``Pipeline`` starts the threads.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pipeline.config_schema import Config
from pipeline.frame import Frame
from pipeline.handoff import Credits, Delivery, WorkerGroup
from pipeline.queues import BoundedQueue, DropPolicy, QueueClosed, RoundRobin
from pipeline.sinks.base import Sink
from pipeline.sources.base import Source, SourceInfo
from pipeline.stage import Stage


@dataclass(eq=False)
class SourceSlot:
    source: Source
    info: SourceInfo
    live: bool
    queue: BoundedQueue[Frame]
    pace_interval: float | None  # seconds between frames when pacing a recording like a camera
    thread: threading.Thread | None = None
    state: str = "open"  # open → reading → finished | stopped | failed | removed
    frames_read: int = 0
    closing: bool = False
    leaving: threading.Event = field(default_factory=threading.Event)  # set when removed while running

    @property
    def thread_name(self) -> str:
        return f"source:{self.source.source_id}"


@dataclass(eq=False)
class StageSlot:
    stage: Stage
    input: Any  # BoundedQueue or RoundRobin: get(timeout) / QueueClosed / Empty
    outputs: list[BoundedQueue[Any]]
    last: bool = False
    thread: threading.Thread | None = None
    ready: threading.Event = field(default_factory=threading.Event)
    group: WorkerGroup | None = None  # set when several threads run copies of this stage
    credits: Credits | None = None  # set on the first stage of a live run with bounded frames in flight
    worker: int = 0  # 1, 2, ... for the threads of a worker group

    @property
    def thread_name(self) -> str:
        return f"stage:{self.stage.name}" + (f"-{self.worker}" if self.worker else "")


@dataclass(eq=False)
class SinkSlot:
    sink: Sink
    name: str
    queue: BoundedQueue[Delivery] | None = None
    thread: threading.Thread | None = None
    opened: bool = False

    @property
    def thread_name(self) -> str:
        return f"sink:{self.name}"


def name_sinks(sinks: Sequence[Sink]) -> list[SinkSlot]:
    """One slot per sink, named after the sink (``video``, ``video-2``, ...)."""
    slots, seen = [], set()
    for sink in sinks:
        name = str(getattr(sink, "name", type(sink).__name__.lower()))
        unique, n = name, 2
        while unique in seen:
            unique, n = f"{name}-{n}", n + 1
        seen.add(unique)
        slots.append(SinkSlot(sink, unique))
    return slots


class Topology:
    """The slots and queues of one pipeline, built in the order the pipeline starts.

    ``add_source`` for every opened source, then ``connect`` for the stages and the sinks.
    ``queues`` lists every queue in that order (capture, stages, sinks), as ``stats()`` shows them.
    """

    def __init__(self, config: Config, sinks: Sequence[Sink]) -> None:
        self.config = config
        self.sources: list[SourceSlot] = []
        self.stages: list[StageSlot] = []
        self.sinks = name_sinks(sinks)
        self.queues: list[BoundedQueue[Any]] = []
        self.credits: Credits | None = None
        self.mux: RoundRobin[Frame] | None = None  # set by connect()

    @property
    def live(self) -> bool:
        """True when any source is handled as live (newest frame wins)."""
        return any(slot.live for slot in self.sources)

    def add_source(self, source: Source, info: SourceInfo) -> SourceSlot:
        """Add the slot of an opened source, before ``connect``."""
        slot = self.slot_for(source, info)
        self.queues.append(slot.queue)
        self.sources.append(slot)
        return slot

    def join(self, slot: SourceSlot) -> None:
        """Add the slot of a source joining after ``connect`` (the pipeline runs): the mux reads it
        from now on. ``QueueClosed`` once the mux has ended (every source before it did)."""
        if self.mux is None:
            raise RuntimeError("join() before connect()")
        self.queues.append(slot.queue)  # before the slot: stats() finds the queue of every slot it lists
        self.sources.append(slot)
        try:
            self.mux.add(slot.queue)
        except QueueClosed:
            self.sources.remove(slot)
            self.queues.remove(slot.queue)
            raise

    def slot_for(self, source: Source, info: SourceInfo) -> SourceSlot:
        """The slot and capture queue of an opened source: one frame, newest wins, when live."""
        mode, pace = self.config.source.mode, self.config.source.pace
        live_source = bool(info.is_live)
        live = mode == "live" or (mode == "auto" and (live_source or pace))
        pace_interval = None  # a recording replayed at its own fps, like a camera
        if not live_source and pace:
            pace_interval = 1.0 / (info.fps if info.fps and info.fps > 0 else 30.0)
        name = f"capture:{source.source_id}"
        queue: BoundedQueue[Frame] = (
            BoundedQueue(1, DropPolicy.DROP_OLDEST, name=name)
            if live
            else BoundedQueue(self.config.runtime.queue_size, DropPolicy.BLOCK, name=name)
        )
        return SourceSlot(source, info, live, queue, pace_interval)

    def connect(self, chain: Sequence[Stage], *, extra_workers: Sequence[Stage] = (), of: Stage | None = None) -> None:
        """Queues from the capture queues through ``chain`` to every sink.

        ``extra_workers`` run copies of the chain's stage ``of`` on threads of their own, sharing its
        input and output queues (a ``WorkerGroup`` keeps their results in order).
        """
        runtime, live = self.config.runtime, self.live
        batch = max(1, runtime.batch_size)
        # live: small queues so back-pressure reaches the capture queues (which drop the oldest)
        capacity = max(1, batch) if live else max(runtime.queue_size, batch)
        upstream: Any = RoundRobin([slot.queue for slot in self.sources], name="mux")
        self.mux = upstream
        if live:  # every engine busy plus one frame ready (at least 3: in the engine, ready, downstream)
            self.credits = Credits(max(3, batch * (1 + len(extra_workers)) + 1))
        for index, stage in enumerate(chain):
            last = index == len(chain) - 1
            outputs: list[BoundedQueue[Any]] = []
            if not last:
                queue: BoundedQueue[Any] = BoundedQueue(capacity, DropPolicy.BLOCK, name=chain[index + 1].name)
                outputs.append(queue)
                self.queues.append(queue)
            slot = StageSlot(stage, upstream, outputs, last=last, credits=self.credits if index == 0 else None)
            self.stages.append(slot)
            if stage is of and extra_workers:
                slot.group, slot.worker = WorkerGroup(1 + len(extra_workers)), 1
                for worker, extra in enumerate(extra_workers, 2):
                    self.stages.append(StageSlot(extra, upstream, outputs, last=last, group=slot.group, worker=worker))
            upstream = outputs[0] if outputs else None
        sink_capacity = max(1, batch) if live else runtime.queue_size
        for sink_slot in self.sinks:
            sink_slot.queue = BoundedQueue(sink_capacity, DropPolicy.BLOCK, name=f"sink:{sink_slot.name}")
            self.queues.append(sink_slot.queue)
            self.stages[-1].outputs.append(sink_slot.queue)  # shared by every worker of the last stage

    def dropped_at_capture(self) -> int:
        return sum(slot.queue.dropped for slot in self.sources)

    def expected_frames(self) -> int | None:
        """Frames the sources will deliver within ``runtime.max_frames``; None when unknown (live, endless).
        A source removed while running counts the frames it read that were not dropped."""
        total = 0
        limit = self.config.runtime.max_frames
        for slot in list(self.sources):
            if slot.leaving.is_set():
                total += max(0, slot.frames_read - slot.queue.dropped)
                continue
            count = slot.info.frame_count
            if slot.info.is_live or count is None:
                if not limit:
                    return None
                count = limit
            total += min(count, limit) if limit else count
        return total

    def stop_reading(self, drain: bool) -> None:
        """Close the capture queues; unless ``drain``, also drop every frame queued before the sinks
        (counted). A result already handed to the sinks is written by every one of them, so that the
        outputs agree with each other and with the frame count."""
        for slot in self.sources:
            slot.queue.close()
            if not drain:
                slot.queue.clear()
        if not drain:
            if self.credits is not None:
                self.credits.close()
            delivered = {id(sink.queue) for sink in self.sinks}
            for queue in self.queues:
                if id(queue) not in delivered:
                    queue.clear()

    def close_all(self) -> None:
        """Close and empty every queue (and the credits), so that every thread leaves at once."""
        if self.credits is not None:
            self.credits.close()
        for queue in self.queues:
            queue.close()
            queue.clear()
