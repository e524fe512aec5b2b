"""A sink that discards results (benchmarks; runs that want only the metrics)."""

from __future__ import annotations

from collections.abc import Mapping

from pipeline.frame import SegResult
from pipeline.sources.base import SourceInfo


class NullSink:
    def __init__(self, *, name: str = "null") -> None:
        self.name = name
        self.count = 0

    def open(self, sources: Mapping[str, SourceInfo]) -> None:
        pass

    def write(self, result: SegResult) -> None:
        self.count += 1

    def add_source(self, source_id: str, info: SourceInfo) -> None:
        """A source joined the running pipeline: nothing to prepare."""

    def remove_source(self, source_id: str) -> None:
        """A source left the running pipeline: nothing kept for it."""

    def close(self) -> None:
        pass
