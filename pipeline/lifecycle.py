"""The states a ``Pipeline`` goes through, and the moves allowed between them.

::

    NEW ──start()──▶ STARTING ──ready──▶ RUNNING ──the sources ended, all delivered──▶ FINISHED
     │                  │                   │
     │ stop()           │ stop()            │ stop()
     │                  └────▶ STOPPING ◀───┘
     │                            │ the threads ended
     └───────────────────────▶ STOPPED

    STARTING, RUNNING, STOPPING ──a source, stage or sink failed──▶ FAILED

"ready": the sources are open, every stage has started (the engine is loaded), the sinks are open.
STOPPED, FINISHED and FAILED are final. A pipeline that failed keeps FAILED after its threads have
ended; ``Pipeline`` records that end (metrics closed, stuck sources closed) separately.
"""

from __future__ import annotations

from enum import Enum


class PipelineState(str, Enum):
    NEW = "new"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FINISHED = "finished"
    FAILED = "failed"

    def __str__(self) -> str:  # the plain name, as in stats() and the summary table
        return self.value

    @property
    def active(self) -> bool:
        """Threads may be working: started and not yet at a final state."""
        return self in (PipelineState.STARTING, PipelineState.RUNNING, PipelineState.STOPPING)

    @property
    def final(self) -> bool:
        return not NEXT_STATES[self]

    def can_become(self, target: PipelineState) -> bool:
        return target in NEXT_STATES[self]


NEXT_STATES: dict[PipelineState, frozenset[PipelineState]] = {
    PipelineState.NEW: frozenset({PipelineState.STARTING, PipelineState.STOPPED}),
    PipelineState.STARTING: frozenset({PipelineState.RUNNING, PipelineState.STOPPING, PipelineState.FAILED}),
    PipelineState.RUNNING: frozenset({PipelineState.STOPPING, PipelineState.FINISHED, PipelineState.FAILED}),
    PipelineState.STOPPING: frozenset({PipelineState.STOPPED, PipelineState.FAILED}),
    PipelineState.STOPPED: frozenset(),
    PipelineState.FINISHED: frozenset(),
    PipelineState.FAILED: frozenset(),
}
