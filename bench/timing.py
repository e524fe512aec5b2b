"""Wall and CPU clocks, percentiles and medians: the arithmetic every benchmark mode shares."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


def percentiles(values_ms: Sequence[float]) -> dict[str, float | None]:
    """{p50, p95, p99} of ``values_ms`` (exact, from the raw samples), rounded to 0.01 ms."""
    if not values_ms:
        return {"p50": None, "p95": None, "p99": None}
    data = np.asarray(values_ms, dtype=np.float64)
    return {f"p{q}": round(float(np.percentile(data, q)), 2) for q in (50, 95, 99)}


def median(values: Sequence[float], digits: int = 2) -> float | None:
    return round(float(statistics.median(values)), digits) if values else None


def machine_busy_s() -> float | None:
    """CPU seconds every process on this machine has used since boot (Linux ``/proc/stat``), or None."""
    try:
        with open("/proc/stat", encoding="ascii") as handle:
            fields = handle.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


@dataclass
class Clock:
    """Wall time and this process's CPU time (all threads) since it was made.

    ``cpu_s / wall_s`` is how many cores the process kept busy: on a 2-core machine, close to 2
    means the work is CPU-bound, well below means it waits (on I/O, on a slow stage, on locks).
    ``others_busy()`` is how many cores *other* processes kept busy meanwhile: the load that makes
    a number on a shared machine lower than it would be on a quiet one.
    """

    wall0: float = field(default_factory=time.perf_counter)
    cpu0: float = field(default_factory=time.process_time)
    machine0: float | None = field(default_factory=machine_busy_s)

    @property
    def wall_s(self) -> float:
        return time.perf_counter() - self.wall0

    @property
    def cpu_s(self) -> float:
        return time.process_time() - self.cpu0

    def cores_busy(self) -> float:
        wall = self.wall_s
        return round(self.cpu_s / wall, 2) if wall > 0 else 0.0

    def others_busy(self) -> float | None:
        now = machine_busy_s()
        wall = self.wall_s
        if now is None or self.machine0 is None or wall <= 0:
            return None
        return round(max(0.0, (now - self.machine0 - self.cpu_s) / wall), 2)
