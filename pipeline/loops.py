"""The bodies the pipeline's threads run: read a source, run a stage, write a sink.

Each loop ends when its input is closed and empty (or, for a source, at its last frame, at
``runtime.max_frames``, or when the pipeline stops) and then closes what it feeds, so the end of
the sources travels down the chain. A loop that raises reports its component through
``fail`` and leaves; ``Pipeline`` then stops every other thread. A source that gives up
(``SourceFailed``) ends only its own loop, reported through ``source_failed``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from engines.errors import EngineInterrupted
from pipeline.config_schema import RuntimeConfig
from pipeline.errors import SourceFailed
from pipeline.failure import quietly
from pipeline.frame import SegResult
from pipeline.handoff import Delivery, take_batch
from pipeline.metrics import Metrics
from pipeline.queues import QueueClosed
from pipeline.stage import Packet
from pipeline.topology import SinkSlot, SourceSlot, StageSlot, Topology


class FailureHandler(Protocol):
    def __call__(self, component: str, exc: BaseException, during_start: bool = False) -> None: ...


@dataclass(eq=False)
class ThreadLoops:
    """The loops of one pipeline, sharing its topology, metrics and stop signal."""

    topology: Topology
    metrics: Metrics
    runtime: RuntimeConfig
    stopping: threading.Event  # set when the pipeline stops or fails: sources stop reading
    fail: FailureHandler  # records a component's failure and stops the whole pipeline
    close_source: Callable[[SourceSlot], None]  # closes a source once, whoever asks first
    source_failed: Callable[[SourceSlot, SourceFailed], None]  # a source gave up; the others go on

    def source(self, slot: SourceSlot) -> None:
        source = slot.source
        limit = self.runtime.max_frames
        record_reads = not slot.info.is_live  # a live read mostly waits for the camera
        started: float | None = None
        slot_state = "finished"
        try:
            while not self.stopping.is_set() and not slot.leaving.is_set():
                if limit and slot.frames_read >= limit:
                    break
                if slot.pace_interval is not None:
                    if started is None:
                        started = time.monotonic()
                    delay = started + slot.frames_read * slot.pace_interval - time.monotonic()
                    if delay > 0 and self.stopping.wait(delay):
                        break
                t0 = time.perf_counter()
                frame = source.read()
                if frame is None:
                    break
                if record_reads:
                    self.metrics.record_stage("read", (time.perf_counter() - t0) * 1000.0)
                slot.frames_read += 1
                slot.queue.put(frame)
        except QueueClosed:
            pass
        except SourceFailed as exc:
            if not slot.leaving.is_set():
                slot_state = "failed"
                self.source_failed(slot, exc)
        except BaseException as exc:
            if not self.stopping.is_set() and not slot.leaving.is_set():
                slot_state = "failed"
                self.fail(f"source {source.source_id}", exc)
        finally:
            if slot.leaving.is_set():
                slot_state = "removed"
            elif slot_state != "failed" and self.stopping.is_set():
                slot_state = "stopped"
            slot.state = slot_state
            slot.queue.close()
            self.close_source(slot)

    def stage(self, slot: StageSlot) -> None:
        stage = slot.stage
        try:
            stage.start()
        except BaseException as exc:
            self.fail(stage.name, exc, during_start=True)
            slot.ready.set()
            quietly(stage.stop)
            for queue in slot.outputs:
                queue.close()
            return
        slot.ready.set()
        batch = int(getattr(stage, "max_batch", 1)) if hasattr(stage, "process_batch") else 1
        timeout_s = self.runtime.batch_timeout_ms / 1000.0
        group = slot.group
        ticket = 0
        try:
            while True:
                try:
                    if slot.credits is not None:
                        slot.credits.acquire()
                    if group is None:
                        items = take_batch(slot.input, batch, timeout_s)
                    else:
                        items, ticket = group.take(slot.input, batch, timeout_s)
                except QueueClosed:
                    break
                t0 = time.perf_counter()
                try:
                    outputs = stage.process_batch(items) if batch > 1 else [stage.process(items[0])]  # type: ignore[attr-defined]
                except EngineInterrupted:
                    if not self.stopping.is_set():
                        raise
                    discard = getattr(slot.input, "count_discarded", None)
                    if discard is not None:  # a stop that drops: these are dropped too, and counted
                        discard(len(items))
                    if group is not None:
                        group.emit(ticket, [], lambda out: self._hand_on(slot, out))
                    continue
                ms = (time.perf_counter() - t0) * 1000.0
                for out in outputs:
                    out.timings_ms[stage.name] = ms
                    self.metrics.record_stage(stage.name, ms)
                    if isinstance(out, Packet) and out.confusion is not None:
                        self.metrics.add_confusion(out.frame.source_id, out.confusion)
                        out.confusion = None
                if group is None:
                    for out in outputs:
                        self._hand_on(slot, out)
                else:
                    group.emit(ticket, outputs, lambda out: self._hand_on(slot, out))
        except QueueClosed:
            pass  # the pipeline was aborted while this stage was handing on an item
        except BaseException as exc:
            self.fail(stage.name, exc)
        finally:
            try:
                stage.stop()
            except BaseException as exc:
                self.fail(stage.name, exc)
            if group is None or group.leave():
                for queue in slot.outputs:
                    queue.close()

    def _hand_on(self, slot: StageSlot, out: Any) -> None:
        if slot.last:
            self._deliver(slot, out)
        else:
            slot.outputs[0].put(out)

    def _deliver(self, slot: StageSlot, result: SegResult) -> None:
        result.timings_ms["e2e"] = (time.monotonic() - result.frame.capture_time) * 1000.0
        delivery = Delivery(result, len(slot.outputs))
        for queue in slot.outputs:
            queue.put(delivery)

    def sink(self, slot: SinkSlot) -> None:
        queue = slot.queue
        if queue is None:
            return
        timing = f"sink:{slot.name}"
        try:
            while True:
                try:
                    delivery = queue.get()
                except QueueClosed:
                    break
                t0 = time.perf_counter()
                slot.sink.write(delivery.result)
                now = time.monotonic()
                self.metrics.record_stage(timing, (time.perf_counter() - t0) * 1000.0)
                if delivery.done():
                    credits = self.topology.credits
                    if credits is not None:
                        credits.release()
                    frame = delivery.result.frame
                    self.metrics.frame_done(frame.source_id, (now - frame.capture_time) * 1000.0, now)
        except BaseException as exc:
            self.fail(f"sink {slot.name}", exc)
        finally:
            try:
                slot.sink.close()
            except BaseException as exc:
                self.fail(f"sink {slot.name}", exc)
