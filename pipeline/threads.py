"""The pipeline's threads together: each started under its slot's name, all joined against one
deadline, and the sources they read closed exactly once.

A source is closed by its own thread when it leaves ``read()``. One that stays in ``read()`` after
the pipeline stopped is closed from a helper thread: a live source at once (its ``close()`` only
wakes the waiting ``read()``; each capture is released by its own reader thread), any other once
a grace period has passed (closing a decoder while its thread decodes can crash it). Neither delays
the caller.

``join()`` returns once the stages and sinks have ended and then the source threads too, which
leave promptly once their source is closed, so that no thread of the pipeline is still running
library code when the host goes on (or its interpreter exits: a daemon thread inside OpenCV at
that moment aborts the process, see ``pipeline.sources.watchdog``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from pipeline.failure import describe, quietly
from pipeline.sources.base import Source
from pipeline.sources.live import LiveSource
from pipeline.topology import SinkSlot, SourceSlot, StageSlot, Topology
from segcore.redact import redact_text

log = logging.getLogger(__name__)

SOURCE_CLOSE_GRACE_S = 0.5  # on stop, a (non-live) source thread gets this long to leave read() by itself
# join() waits this long for source threads to end once closed: a live source's read() returns within
# 0.1 s of close(), and its own close() gives its capture thread 0.5 s to release the capture
SOURCE_END_WAIT_S = 0.7


def start_thread(name: str, target: Callable[..., None], *args: Any) -> threading.Thread:
    """A daemon thread named ``segstream-NAME`` running ``target(*args)``, started."""
    thread = threading.Thread(target=target, args=args, name=f"segstream-{name}", daemon=True)
    thread.start()
    return thread


class PipelineThreads:
    """Starts and joins the threads of one ``Topology`` and closes its sources (each once)."""

    def __init__(self, topology: Topology) -> None:
        self.topology = topology
        self._lock = threading.Lock()  # guards the sources' closing flags
        self._closers: list[threading.Thread] = []

    def start(self, slots: Sequence[SourceSlot | StageSlot | SinkSlot], body: Callable[[Any], None]) -> None:
        """One thread per slot, running ``body(slot)``, named after the slot."""
        for slot in slots:
            slot.thread = start_thread(slot.thread_name, body, slot)

    def close_source(self, slot: SourceSlot) -> None:
        with self._lock:
            if slot.closing:
                return
            slot.closing = True
        try:
            slot.source.close()
        except Exception as exc:
            log.warning("closing source %s: %s", slot.source.source_id, redact_text(describe(exc)))

    def close_stuck_sources_later(self, slots: Sequence[SourceSlot] | None = None) -> None:
        """Give each source thread (of ``slots``; default: every source) a moment to leave read()
        by itself, then close its source."""
        slots = list(self.topology.sources if slots is None else slots)

        def close_stuck() -> None:
            for slot in slots:  # live sources first: nothing to wait for
                if isinstance(slot.source, LiveSource):
                    self.close_source(slot)
            deadline = time.monotonic() + SOURCE_CLOSE_GRACE_S
            for slot in slots:
                if slot.thread is not None:
                    slot.thread.join(max(0.0, deadline - time.monotonic()))
                if slot.thread is None or slot.thread.is_alive():
                    self.close_source(slot)

        with self._lock:
            open_sources = [slot for slot in slots if not slot.closing]
        if open_sources:
            self._closers.append(start_thread("source-closer", close_stuck))

    def close_after_failed_start(self, sources: Sequence[Source]) -> None:
        """Close every source, opened or not, and every sink opened but never given its thread."""
        for slot in self.topology.sources:
            self.close_source(slot)
        opened = {slot.source.source_id for slot in self.topology.sources}
        for source in sources:
            if source.source_id not in opened:
                quietly(source.close)
        for sink_slot in self.topology.sinks:
            if sink_slot.opened and sink_slot.thread is None:
                quietly(sink_slot.sink.close)

    def join(self, timeout: float | None) -> bool:
        """Wait for the stage and sink threads; then, briefly, for the sources to be closed and their threads to end."""
        deadline = None if timeout is None else time.monotonic() + timeout
        threads = [s.thread for s in self.topology.stages] + [s.thread for s in self.topology.sinks]
        for thread in threads:
            if thread is None:
                continue
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                return False
        closing_deadline = time.monotonic() + SOURCE_CLOSE_GRACE_S + 1.0  # a close() that hangs is not waited for
        if deadline is not None:
            closing_deadline = min(closing_deadline, deadline)
        for closer in list(self._closers):
            closer.join(max(0.0, closing_deadline - time.monotonic()))
        ending_deadline = time.monotonic() + SOURCE_END_WAIT_S  # nor a read() that ignores close()
        if deadline is not None:
            ending_deadline = min(ending_deadline, deadline)
        for slot in self.topology.sources:
            if slot.thread is not None:
                slot.thread.join(max(0.0, ending_deadline - time.monotonic()))
        return True
