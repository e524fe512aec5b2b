"""The pipeline's side of the server: a sink that hands each rendered picture to the ``FrameHub``.

``write`` keeps a reference and returns (the hub encodes on its own thread, only for viewers), so
serving costs the pipeline one lock per frame; ``close`` (the pipeline has ended) closes the hub,
which ends every viewer's stream.
"""

from __future__ import annotations

from collections.abc import Mapping

from pipeline.frame import SegResult
from pipeline.sources.base import SourceInfo
from serve.hub import FrameHub


class ServeSink:
    name = "serve"

    def __init__(self, hub: FrameHub) -> None:
        self.hub = hub

    def open(self, sources: Mapping[str, SourceInfo]) -> None:
        self.hub.open((source_id, (info.width, info.height)) for source_id, info in sources.items())

    def add_source(self, source_id: str, info: SourceInfo) -> None:
        self.hub.open([(source_id, (info.width, info.height))])

    def remove_source(self, source_id: str) -> None:
        self.hub.remove(source_id)

    def write(self, result: SegResult) -> None:
        picture = result.rendered if result.rendered is not None else result.frame.image
        self.hub.publish(result.frame.source_id, picture, result.fractions)

    def close(self) -> None:
        self.hub.close()
