"""Reconnect policy and state machine for live sources, independent of any capture library.

::

    IDLE ──open──▶ CONNECTING ──first frame──▶ STREAMING
                      │  ▲                        │ read fails, or no frame for stall_timeout_s
         connect fails│  │backoff elapsed         ▼
                      ▼  │                   RECONNECTING ──attempts exhausted / reconnect off──▶ FAILED
                   RECONNECTING ◀───────────────────┘
    any state ──close()──▶ STOPPED          a finite stream that ends ──▶ STOPPED

``ReconnectMachine`` only keeps the books: it is told what happened (a frame, a failure, the
backoff elapsed, a stop) and at what ``time.monotonic()`` instant, and answers with the status of
each transition. Threads, captures and waiting live in ``pipeline.sources.live``.

Counting rules:

- ``disconnects``: times a STREAMING session was lost (read failure or stall); ``stalls`` is the
  part of those found by the watchdog.
- ``reconnect_attempts``: connection attempts after a failure (the first connect is not one);
  ``attempt`` is the count within the current outage.
- ``reconnects``: outages that ended with a frame.
- ``max_attempts`` (0 = unlimited) bounds the attempts per outage; when the last one fails the
  source is FAILED and stays so.
- ``downtime_s``: from the loss of the stream (for a stall: its last frame; for a first connect
  that fails: the moment the source was opened) to the first frame after it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import Enum

from pipeline.config_schema import ReconnectConfig
from segcore.errors import ConfigError


class SourceState(str, Enum):
    IDLE = "idle"
    CONNECTING = "connecting"
    STREAMING = "streaming"
    RECONNECTING = "reconnecting"
    STOPPED = "stopped"
    FAILED = "failed"

    @property
    def terminal(self) -> bool:
        return self in (SourceState.STOPPED, SourceState.FAILED)


@dataclass(frozen=True)
class SourceStatus:
    """One state change of a live source, as passed to ``on_status``. Never holds credentials."""

    source_id: str
    state: SourceState
    previous: SourceState
    time: float  # time.monotonic() of the change
    reason: str


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with ± ``jitter`` (a fraction), capped at ``max_s``: attempt ``n`` (1-based)
    waits about ``initial_s * 2**(n-1)``, never more than ``max_s``."""

    initial_s: float
    max_s: float
    jitter: float

    def __post_init__(self) -> None:
        if self.initial_s < 0 or self.max_s < self.initial_s or not 0 <= self.jitter <= 1:
            raise ConfigError(
                "source.reconnect: needs 0 <= initial_backoff_s <= max_backoff_s and 0 <= jitter <= 1, "
                f"got {self.initial_s}, {self.max_s} and {self.jitter}"
            )

    def base(self, attempt: int) -> float:
        """The delay before ``attempt`` without jitter."""
        return min(self.max_s, self.initial_s * 2.0 ** min(max(attempt - 1, 0), 60))

    def bounds(self, attempt: int) -> tuple[float, float]:
        """The smallest and largest delay ``delay(attempt)`` can return."""
        base = self.base(attempt)
        return base * (1.0 - self.jitter), min(self.max_s, base * (1.0 + self.jitter))

    def delay(self, attempt: int, rng: random.Random) -> float:
        return min(self.max_s, self.base(attempt) * (1.0 + rng.uniform(-self.jitter, self.jitter)))


class ReconnectMachine:
    """The state and counters of one live source. Not thread-safe: its owner holds a lock."""

    def __init__(self, source_id: str, config: ReconnectConfig, rng: random.Random | None = None) -> None:
        if config.max_attempts < 0 or config.stall_timeout_s <= 0 or config.open_timeout_s <= 0:
            raise ConfigError(
                "source.reconnect: needs max_attempts >= 0, stall_timeout_s > 0 and open_timeout_s > 0, "
                f"got {config.max_attempts}, {config.stall_timeout_s} and {config.open_timeout_s}"
            )
        self.source_id = source_id
        self.config = config
        self.backoff = Backoff(config.initial_backoff_s, config.max_backoff_s, config.jitter)
        self._rng = rng or random.Random()
        self.state = SourceState.IDLE
        self.reason = "not opened"
        self.disconnects = 0
        self.stalls = 0
        self.reconnects = 0
        self.reconnect_attempts = 0
        self.attempt = 0  # attempts in the current outage
        self.next_attempt_at: float | None = None
        self._downtime_done = 0.0
        self._outage_start: float | None = None
        self._opened_at = 0.0

    def _move(self, to: SourceState, now: float, reason: str) -> SourceStatus:
        status = SourceStatus(self.source_id, to, self.state, now, reason)
        self.state, self.reason = to, reason
        return status

    def start(self, now: float) -> SourceStatus:
        """IDLE → CONNECTING: the first connection attempt begins."""
        if self.state is not SourceState.IDLE:
            raise RuntimeError(f"start() in state {self.state.value}")
        self._opened_at = now
        return self._move(SourceState.CONNECTING, now, "opening")

    def on_frame(self, now: float) -> SourceStatus | None:
        """A frame arrived. CONNECTING → STREAMING, closing any outage; None when already streaming."""
        if self.state is not SourceState.CONNECTING:
            return None
        recovered = self.attempt > 0
        self._close_outage(now)
        if recovered:
            self.reconnects += 1
        reason = f"reconnected after {self.attempt} attempt(s)" if recovered else "first frame"
        self.attempt = 0
        self.next_attempt_at = None
        return self._move(SourceState.STREAMING, now, reason)

    def on_failure(
        self, now: float, reason: str, *, stall: bool = False, since: float | None = None
    ) -> SourceStatus:
        """The current connection failed (or, with ``stall``, the watchdog gave up on it).

        ``since`` is when the stream was really lost (a stall: the last frame); default ``now``.
        Moves to RECONNECTING with the next attempt scheduled, or to FAILED.
        """
        if self.state not in (SourceState.CONNECTING, SourceState.STREAMING):
            raise RuntimeError(f"on_failure() in state {self.state.value}")
        lost_at = now if since is None else min(since, now)
        if self.state is SourceState.STREAMING:
            self.disconnects += 1
            self.stalls += int(stall)
            self._outage_start = lost_at
        elif self._outage_start is None:  # the first connection never came up
            self._outage_start = self._opened_at
        if not self.config.enabled:
            return self._end(SourceState.FAILED, now, f"{reason}; reconnect is disabled")
        if self.config.max_attempts and self.attempt >= self.config.max_attempts:
            return self._end(
                SourceState.FAILED, now, f"{reason}; gave up after {self.attempt} reconnect attempt(s)"
            )
        delay = self.backoff.delay(self.attempt + 1, self._rng)
        self.next_attempt_at = now + delay
        return self._move(SourceState.RECONNECTING, now, f"{reason}; retrying in {delay:.2f} s")

    def _end(self, state: SourceState, now: float, reason: str) -> SourceStatus:
        """To STOPPED or FAILED: the outage (if any) ends here too."""
        self._close_outage(now)
        self.next_attempt_at = None
        return self._move(state, now, reason)

    def due(self, now: float) -> bool:
        """Whether the next reconnect attempt may start."""
        return (
            self.state is SourceState.RECONNECTING
            and self.next_attempt_at is not None
            and now >= self.next_attempt_at
        )

    def on_attempt(self, now: float) -> SourceStatus:
        """RECONNECTING → CONNECTING: a reconnect attempt begins."""
        if self.state is not SourceState.RECONNECTING:
            raise RuntimeError(f"on_attempt() in state {self.state.value}")
        self.attempt += 1
        self.reconnect_attempts += 1
        self.next_attempt_at = None
        limit = f"/{self.config.max_attempts}" if self.config.max_attempts else ""
        return self._move(SourceState.CONNECTING, now, f"reconnect attempt {self.attempt}{limit}")

    def stop(self, now: float, reason: str) -> SourceStatus | None:
        """Any live state → STOPPED (closed, or a finite stream ended). None when already terminal."""
        if self.state.terminal:
            return None
        return self._end(SourceState.STOPPED, now, reason)

    def _close_outage(self, now: float) -> None:
        if self._outage_start is not None:
            self._downtime_done += max(0.0, now - self._outage_start)
            self._outage_start = None

    def current_downtime(self, now: float) -> float:
        return 0.0 if self._outage_start is None else max(0.0, now - self._outage_start)

    def stats(self, now: float) -> dict[str, int | float | str]:
        current = self.current_downtime(now)
        return {
            "state": self.state.value,
            "reason": self.reason,
            "disconnects": self.disconnects,
            "stalls": self.stalls,
            "reconnects": self.reconnects,
            "reconnect_attempts": self.reconnect_attempts,
            "attempt": self.attempt,
            "downtime_s": round(self._downtime_done + current, 3),
            "current_downtime_s": round(current, 3),
        }
