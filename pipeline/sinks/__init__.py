"""Sinks: where results go. ``build_sinks`` makes the file and display sinks a config asks for.

The callback, latest-result and null sinks are made in code (``pipeline.sinks.callback`` ...).
Each sink module is imported only when its output is used.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from pipeline.config_schema import OutputConfig
from pipeline.sinks.base import Sink

if TYPE_CHECKING:
    from pipeline.events.hub import EventHub

__all__ = ["Sink", "build_sinks"]


def build_sinks(
    output: OutputConfig,
    *,
    inputs: Sequence[str],
    class_names: Sequence[str],
    multi_source: bool,
    on_quit: Callable[[], None] | None = None,
    events: EventHub | None = None,
) -> list[Sink]:
    """The sinks ``output`` asks for: video file(s), mask PNGs, JSONL records, a display window.

    ``inputs`` (the source URIs) let each file sink refuse a path that is also an input
    (``OutputError``); ``on_quit`` is called when the user presses q/Esc in a display window;
    ``events`` (a zone sink's hub) adds the zone events to the JSONL file.
    """
    sinks: list[Sink] = []
    if output.video:
        from pipeline.sinks.video import VideoSink

        sinks.append(
            VideoSink(output.video, codec=output.codec, preset=output.video_preset, inputs=inputs, multi_source=multi_source)
        )
    if output.masks:
        from pipeline.sinks.masks import MaskSink

        sinks.append(MaskSink(output.masks, inputs=inputs))
    if output.jsonl:
        from pipeline.sinks.jsonl import JsonlSink

        sinks.append(JsonlSink(output.jsonl, class_names=class_names, inputs=inputs, events=events))
    if output.show:
        from pipeline.sinks.display import DisplaySink

        sinks.append(DisplaySink(on_quit=on_quit))
    return sinks
