"""The server's threads yield to the pipeline's when the cores are short.

Linux schedules each thread apart, so a thread may lower its own priority (raise its nice value;
no privilege needed, and no way back without one). The hub's encoder and the HTTP event loop do:
when the pipeline keeps every core busy (an offline run going flat out), viewers get fewer frames
and the pipeline keeps its speed; with cores to spare (a live run), nothing changes. Threads
inherit the nice value of the thread that creates them, so whatever must keep the pipeline's
priority (the ``/v1/segment`` workers) is started before. Elsewhere (not Linux) nothing changes.
"""

from __future__ import annotations

import contextlib
import os
import threading

NICER_BY = 10  # weight 110 against the pipeline's 1024 while both want a core


def yield_to_pipeline(by: int = NICER_BY) -> None:
    """Lower the calling thread's priority by ``by`` nice steps (at most to 19)."""
    with contextlib.suppress(OSError, AttributeError):
        thread = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, thread, min(19, os.getpriority(os.PRIO_PROCESS, thread) + by))
