"""A sink that hands every result to a function of the host's (on the sink's own thread)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from pipeline.frame import SegResult
from pipeline.sources.base import SourceInfo


class CallbackSink:
    """Calls ``callback(result)`` for every result, on the sink's thread, in order per source.

    A callback that raises stops the pipeline; ``Pipeline.join()`` then raises a PipelineError
    naming this sink. Keep the callback short, or the pipeline slows down to its pace.
    """

    def __init__(self, callback: Callable[[SegResult], object], *, name: str = "callback") -> None:
        self.callback = callback
        self.name = name

    def open(self, sources: Mapping[str, SourceInfo]) -> None:
        pass

    def write(self, result: SegResult) -> None:
        self.callback(result)

    def add_source(self, source_id: str, info: SourceInfo) -> None:
        """A source joined the running pipeline: nothing to prepare."""

    def remove_source(self, source_id: str) -> None:
        """A source left the running pipeline: nothing kept for it."""

    def close(self) -> None:
        pass
