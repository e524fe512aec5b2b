"""The pipeline's threads together: each started under its slot's name, all joined against one
deadline, and the sources they read closed exactly once.

A source is closed by its own thread when it leaves ``read()``. One that stays blocked in
``read()`` after the pipeline stopped (a frozen network stream) is closed from a helper thread once
a grace period has passed: closing a capture while its thread decodes can crash some decoders, so
that is never done earlier, and it never delays the caller.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from pipeline.failure import describe, quietly
from pipeline.sources.base import Source
from pipeline.topology import SinkSlot, SourceSlot, StageSlot, Topology
from segcore.redact import redact_text

log = logging.getLogger(__name__)

SOURCE_CLOSE_GRACE_S = 0.5  # on stop, a source thread gets this long to leave read() by itself


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

    def close_stuck_sources_later(self) -> None:
        """Give each source thread a moment to leave read() by itself, then close its source."""

        def close_stuck() -> None:
            deadline = time.monotonic() + SOURCE_CLOSE_GRACE_S
            for slot in self.topology.sources:
                if slot.thread is not None:
                    slot.thread.join(max(0.0, deadline - time.monotonic()))
                if slot.thread is None or slot.thread.is_alive():
                    self.close_source(slot)

        if self.topology.sources:
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
        """Wait for the stage and sink threads; then, briefly, for stuck sources to be closed."""
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
        return True
