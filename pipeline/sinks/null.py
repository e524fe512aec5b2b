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

    def close(self) -> None:
        pass
