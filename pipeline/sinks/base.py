"""The Sink protocol: where results go. Every sink runs on its own thread, created by ``Pipeline``.

``open`` is called before any thread starts, with what each source reported (a sink that cannot
write its output raises ``OutputError`` there, a user error). ``write`` is called from the sink's
own thread, once per result, in order per source. ``close`` finalises the output (a playable
file, a flushed log); it is idempotent and is called after a failure too.

A sink that writes files may also have ``outputs()``: after ``close``, the files (or folder) that
exist, each as ``{"kind", "path", "frames"}`` (frames, masks or records it holds). The command
reports those, and only those, as written. A sink that keeps an unfinished file while it writes
may also have ``discard()``: the process ends at once (the user's hard exit), so remove what
could never be finalised, without waiting for anything; it returns the paths it removed.

A sink that can take sources joining the running pipeline (``Pipeline.add_source``) has
``add_source(source_id, info)`` (called from the joining thread, while ``write`` may run on the
sink's: quick and thread-safe; ``OutputError`` if it cannot take this one) and
``remove_source(source_id)`` (the source left; results of it still on their way may follow).
Without ``add_source`` no source can join: an output set up for the sources given at start (a
video file per source, a window, an RTSP mount) refuses, and the pipeline says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

from pipeline.frame import SegResult
from pipeline.sources.base import SourceInfo


@runtime_checkable
class Sink(Protocol):
    name: str

    def open(self, sources: Mapping[str, SourceInfo]) -> None:
        """Prepare the output, before threads start; raise OutputError if it cannot be used."""
        ...

    def write(self, result: SegResult) -> None:
        """Consume one result (called from the sink's own thread)."""
        ...

    def close(self) -> None:
        """Finalise the output (playable files, flushed logs). Idempotent."""
        ...
