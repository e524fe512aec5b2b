"""The Source protocol and what every source reports about itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from pipeline.frame import Frame


@dataclass(frozen=True)
class SourceInfo:
    """What a source knows once opened. ``frame_count`` is None for live or unknown lengths."""

    uri: str  # redacted: never contains credentials
    width: int
    height: int
    fps: float | None
    frame_count: int | None
    is_live: bool
    codec: str | None = None
    fps_exact: tuple[int, int] | None = None  # (num, den) when the container states it
    label_names: tuple[str, ...] | None = None  # the class names of its labels, when it has labels


@runtime_checkable
class Source(Protocol):
    source_id: str

    def open(self) -> SourceInfo:
        """Open the source; raise SourceError (a user error) if it cannot be opened at all."""
        ...

    @property
    def info(self) -> SourceInfo: ...

    def read(self) -> Frame | None:
        """The next frame; None at the end of the stream. May block (live sources: until a frame
        arrives or the stall watchdog fires). Never returns a frame that was not really decoded."""
        ...

    def close(self) -> None:
        """Release the capture. Safe to call from another thread while read() blocks, and twice."""
        ...

    def stats(self) -> dict[str, int | float | str]:
        """Counters for metrics: at least ``frames``; live sources add ``state``, ``disconnects``,
        ``reconnects``, ``downtime_s``; every source adds ``corrupt_frames`` it skipped."""
        ...
