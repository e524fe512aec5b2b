"""A zone event: one class in one zone of one source started, went on, or ended.

``start`` when the class covers at least ``enter`` of the zone (for ``min_duration_s``), ``update``
while it lasts (at most every ``update_interval_s``), ``end`` when it falls below ``exit`` (for
``min_duration_s``), when the run stops (``reason: "stopped"``) or when its source is removed from
the running pipeline (``reason: "removed"``). The three share an ``id``.
As JSON (``to_dict``)::

    {"type": "start", "id": "street/ahead/road/1", "source": "street", "zone": "ahead",
     "class": "road", "fraction": 0.62, "pts": 3.4, "index": 102, "wall_time": 1796000000.123,
     "duration_s": 0.0}

``pts`` is the frame's presentation time in seconds (null when the source has none), ``index``
the frame's index, ``wall_time`` the Unix time the event was made, ``duration_s`` the time since
the start on the frame timeline (pts, else the capture clock). ``end`` adds ``reason``: ``exit``,
``stopped`` or ``removed``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

EventType = Literal["start", "update", "end"]
EndReason = Literal["exit", "stopped", "removed"]


@dataclass(frozen=True)
class ZoneEvent:
    type: EventType
    id: str  # the same for an event's start, updates and end
    source: str
    zone: str
    class_name: str
    fraction: float  # share of the zone's pixels of this class, 0..1
    pts: float | None
    index: int
    wall_time: float  # time.time() when the event was made
    duration_s: float  # since the start, on the frame timeline
    reason: EndReason | None = None  # end only

    @property
    def path(self) -> str:
        """``source/zone/class``: where the event belongs (an MQTT topic below its prefix)."""
        return f"{self.source}/{self.zone}/{self.class_name}"

    def to_dict(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "type": self.type,
            "id": self.id,
            "source": self.source,
            "zone": self.zone,
            "class": self.class_name,
            "fraction": round(self.fraction, 6),
            "pts": None if self.pts is None or not math.isfinite(self.pts) else round(self.pts, 6),
            "index": self.index,
            "wall_time": round(self.wall_time, 6),
            "duration_s": round(self.duration_s, 6),
        }
        if self.reason is not None:
            record["reason"] = self.reason
        return record
