"""The hysteresis of one class in one zone: a sequence of (fraction, time) in, start/update/end out.

Idle, a fraction ``>= enter`` held for ``min_duration_s`` starts an event; active, a fraction
``< exit`` held for ``min_duration_s`` ends it (``exit <= enter``: between the two nothing
changes, so a fraction that wobbles around one threshold does not flicker). While active, an
``update`` comes at most every ``update_interval_s`` (0: on every observation). Time is whatever
clock the caller uses (a frame's pts); when it goes backwards (a file that loops, a camera that
reconnects) the pending waits restart from the new time.
"""

from __future__ import annotations

from pipeline.events.event import EventType


class ZoneTracker:
    def __init__(self, *, enter: float, exit: float, min_duration_s: float = 0.0, update_interval_s: float = 0.0) -> None:
        if not 0.0 < exit <= enter <= 1.0:
            raise ValueError(f"expected 0 < exit <= enter <= 1, got enter {enter}, exit {exit}")
        self.enter = enter
        self.exit = exit
        self.min_duration_s = min_duration_s
        self.update_interval_s = update_interval_s
        self.active = False
        self.started_at: float | None = None  # when the active event started
        self._pending_since: float | None = None  # when the fraction first crossed towards a change
        self._last_update: float | None = None
        self._last_time: float | None = None

    def observe(self, fraction: float, time: float) -> EventType | None:
        """The event this observation makes, if any."""
        if self._last_time is not None and time < self._last_time:  # a new timeline
            if self._pending_since is not None:
                self._pending_since = time
            if self.active:
                self.started_at = time
                self._last_update = time
        self._last_time = time
        crossing = fraction < self.exit if self.active else fraction >= self.enter
        if not crossing:
            self._pending_since = None
            if self.active and self._update_due(time):
                self._last_update = time
                return "update"
            return None
        if self._pending_since is None:
            self._pending_since = time
        if time - self._pending_since < self.min_duration_s:
            return None
        self._pending_since = None
        self.active = not self.active
        if self.active:
            self.started_at = self._last_update = time
            return "start"
        return "end"

    def stop(self) -> bool:
        """The run ends: True if an event was active (its end is due)."""
        was_active = self.active
        self.active = False
        self._pending_since = None
        return was_active

    def _update_due(self, time: float) -> bool:
        return self._last_update is None or time - self._last_update >= self.update_interval_s
