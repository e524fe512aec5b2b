"""``ZoneMonitor``: the zones of a run, applied to its results in order, giving zone events.

For each result it draws the source's zones at the frame's size (once per size: ``ZoneArea``),
takes each watched class's share of each zone, and feeds it to that zone and class's
``ZoneTracker`` on the frame's timeline (its pts, else its capture time). ``finish()`` ends the
events still under way when the run stops. Not thread-safe: one sink's thread calls it.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence

from pipeline.events.event import EndReason, EventType, ZoneEvent
from pipeline.events.tracker import ZoneTracker
from pipeline.events.zones import Zone, ZoneArea
from pipeline.frame import SegResult


class _Watch:
    """One class of one zone: its tracker and the event under way."""

    def __init__(self, zone: Zone, class_id: int, class_name: str) -> None:
        self.zone = zone
        self.class_id = class_id
        self.class_name = class_name
        self.tracker = ZoneTracker(enter=zone.enter, exit=zone.exit, min_duration_s=zone.min_duration_s,
                                   update_interval_s=zone.update_interval_s)
        self.count = 0  # events started so far
        self.fraction = 0.0
        self.pts: float | None = None
        self.index = 0
        self.time = 0.0


class ZoneMonitor:
    def __init__(self, zones: Sequence[Zone]) -> None:
        self.zones = list(zones)
        self._watches: dict[str, list[_Watch]] = defaultdict(list)
        for zone in self.zones:
            for class_id, name in zip(zone.classes, zone.class_names, strict=True):
                self._watches[zone.source].append(_Watch(zone, class_id, name))
        self._areas: dict[tuple[str, str, int, int], ZoneArea] = {}

    def observe(self, result: SegResult) -> list[ZoneEvent]:
        frame = result.frame
        watches = self._watches.get(frame.source_id)
        if not watches:
            return []
        at = frame.pts if frame.pts is not None else frame.capture_time
        shares: dict[str, object] = {}
        events = []
        for watch in watches:
            zone = watch.zone
            if zone.name not in shares:
                shares[zone.name] = self._area(zone, frame.width, frame.height).fractions(result.class_map)
            watch.fraction = float(shares[zone.name][watch.class_id])  # type: ignore[index]
            watch.pts, watch.index, watch.time = frame.pts, frame.index, at
            kind = watch.tracker.observe(watch.fraction, at)
            if kind is not None:
                events.append(self._event(watch, kind))
        return events

    def finish(self) -> list[ZoneEvent]:
        """End every event under way (``reason: "stopped"``); the monitor can go on afterwards."""
        return [self._event(watch, "end", "stopped") for group in self._watches.values() for watch in group
                if watch.tracker.stop()]

    def remove(self, source_id: str) -> list[ZoneEvent]:
        """``source_id`` left the run: end its events under way (``reason: "removed"``) and watch
        its zones no more (its last frames, still on their way, start nothing)."""
        group = self._watches.pop(source_id, [])
        return [self._event(watch, "end", "removed") for watch in group if watch.tracker.stop()]

    def _area(self, zone: Zone, width: int, height: int) -> ZoneArea:
        key = (zone.source, zone.name, width, height)
        area = self._areas.get(key)
        if area is None:
            area = self._areas[key] = ZoneArea(zone, width, height)
        return area

    def _event(self, watch: _Watch, kind: EventType, reason: EndReason | None = None) -> ZoneEvent:
        if kind == "start":
            watch.count += 1
        started = watch.tracker.started_at
        return ZoneEvent(
            type=kind, id=f"{watch.zone.source}/{watch.zone.name}/{watch.class_name}/{watch.count}",
            source=watch.zone.source, zone=watch.zone.name, class_name=watch.class_name, fraction=watch.fraction,
            pts=watch.pts, index=watch.index, wall_time=time.time(),
            duration_s=0.0 if started is None else max(0.0, watch.time - started),
            reason=(reason or "exit") if kind == "end" else None,
        )
