"""Waiting in tests for something to happen on another thread, instead of sleeping and hoping."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(condition: Callable[[], object], timeout: float = 10.0, what: str = "condition") -> float:
    """Poll ``condition()`` until it is true and return that moment; fail after ``timeout`` seconds.

    The deadline is generous on purpose: it only bounds a test that would otherwise hang, and the
    wait ends as soon as the condition holds.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout} s")
        time.sleep(0.01)
    return time.monotonic()
