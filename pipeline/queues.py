"""Bounded queues between pipeline threads, with a drop policy named by its effect.

``BLOCK``        a full queue makes ``put`` wait: back-pressure, every item kept, in order (files).
``DROP_OLDEST``  a full queue discards its oldest item to take the new one: the newest frame wins
                 and latency stays bounded (live cameras).
``DROP_NEWEST``  a full queue refuses the new item (``put`` returns False).

Every discarded item is counted. ``close()`` wakes every waiter: a blocked ``put`` raises
``QueueClosed`` at once, and ``get`` returns what is still queued, then raises ``QueueClosed``; so a
shutdown never hangs on a full or empty queue. ``clear()`` discards what is queued (counted).

``RoundRobin`` reads several queues fairly (one item from each non-empty queue in turn): the
multi-source mux in front of preprocess. A closed queue or a queue that stays empty never stalls
the others.
"""

from __future__ import annotations

import enum
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from queue import Empty, Full
from typing import Any, Generic, TypeVar

__all__ = ["BoundedQueue", "DropPolicy", "Empty", "Full", "QueueClosed", "RoundRobin"]

T = TypeVar("T")


class DropPolicy(enum.Enum):
    BLOCK = "block"
    DROP_OLDEST = "drop_oldest"
    DROP_NEWEST = "drop_newest"


class QueueClosed(Exception):
    """Raised by ``put`` on a closed queue, and by ``get`` once a closed queue is empty."""


class BoundedQueue(Generic[T]):
    """A thread-safe FIFO of at most ``capacity`` items with a drop policy and counters."""

    def __init__(self, capacity: int, policy: DropPolicy = DropPolicy.BLOCK, *, name: str = "queue") -> None:
        if capacity < 1:
            raise ValueError(f"queue {name!r}: capacity must be at least 1, got {capacity}")
        self.name = name
        self.capacity = int(capacity)
        self.policy = DropPolicy(policy)
        self._items: deque[T] = deque()
        self._lock = threading.Lock()
        self._not_empty = threading.Condition(self._lock)
        self._not_full = threading.Condition(self._lock)
        self._closed = False
        self._listeners: list[Callable[[], None]] = []
        self.puts = 0  # items accepted
        self.gets = 0  # items handed out
        self.dropped = 0  # items discarded by the policy or by clear()
        self.max_depth = 0

    def put(self, item: T, timeout: float | None = None) -> bool:
        """Queue ``item``; True if it was queued, False if ``DROP_NEWEST`` refused it.

        ``BLOCK`` waits for room (at most ``timeout`` seconds, then ``queue.Full``).
        Raises ``QueueClosed`` if the queue is or becomes closed.
        """
        with self._lock:
            if self._closed:
                raise QueueClosed(self.name)
            if len(self._items) >= self.capacity:
                if self.policy is DropPolicy.DROP_NEWEST:
                    self.dropped += 1
                    return False
                if self.policy is DropPolicy.DROP_OLDEST:
                    while len(self._items) >= self.capacity:
                        self._items.popleft()
                        self.dropped += 1
                else:
                    deadline = None if timeout is None else time.monotonic() + timeout
                    while len(self._items) >= self.capacity and not self._closed:
                        remaining = None if deadline is None else deadline - time.monotonic()
                        if remaining is not None and remaining <= 0:
                            raise Full(self.name)
                        self._not_full.wait(remaining)
                    if self._closed:
                        raise QueueClosed(self.name)
            self._items.append(item)
            self.puts += 1
            self.max_depth = max(self.max_depth, len(self._items))
            self._not_empty.notify()
        self._notify_listeners()
        return True

    def get(self, timeout: float | None = None) -> T:
        """The oldest item. Waits at most ``timeout`` seconds (0: do not wait), then ``queue.Empty``.

        Raises ``QueueClosed`` when the queue is closed and nothing is left in it.
        """
        with self._lock:
            if not self._items and not self._closed:
                if timeout is not None and timeout <= 0:
                    raise Empty(self.name)
                deadline = None if timeout is None else time.monotonic() + timeout
                while not self._items and not self._closed:
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        raise Empty(self.name)
                    self._not_empty.wait(remaining)
            if not self._items:
                raise QueueClosed(self.name)
            item = self._items.popleft()
            self.gets += 1
            self._not_full.notify()
            return item

    def close(self) -> None:
        """Refuse further puts and wake every waiter; queued items can still be taken. Idempotent."""
        with self._lock:
            self._closed = True
            self._not_empty.notify_all()
            self._not_full.notify_all()
        self._notify_listeners()

    def count_discarded(self, count: int) -> None:
        """Count ``count`` items taken from this queue and then discarded (a stage interrupted at stop)."""
        with self._lock:
            self.dropped += count

    def clear(self) -> int:
        """Discard every queued item (counted as dropped); return how many."""
        with self._lock:
            count = len(self._items)
            self._items.clear()
            self.dropped += count
            self._not_full.notify_all()
        return count

    @property
    def closed(self) -> bool:
        return self._closed

    def __len__(self) -> int:
        return len(self._items)

    def add_listener(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` after every put and on close (outside the queue's lock)."""
        with self._lock:
            self._listeners.append(callback)

    def _notify_listeners(self) -> None:
        for callback in self._listeners:
            callback()

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "policy": self.policy.value,
                "capacity": self.capacity,
                "depth": len(self._items),
                "max_depth": self.max_depth,
                "puts": self.puts,
                "dropped": self.dropped,
                "closed": self._closed,
            }


class RoundRobin(Generic[T]):
    """Fair reader over several queues: takes from each non-empty queue in turn.

    ``get`` has the queue semantics: it waits (at most ``timeout``) while every open queue is
    empty, and raises ``QueueClosed`` once every queue is closed and drained; from then on the mux
    has ended and ``add`` refuses a further queue. A queue closed and drained is dropped from the
    rotation (a source removed while running costs the others nothing).
    """

    def __init__(self, queues: Sequence[BoundedQueue[T]], *, name: str = "mux") -> None:
        if not queues:
            raise ValueError("RoundRobin needs at least one queue")
        self.name = name
        self.queues = list(queues)
        self._cond = threading.Condition()
        self._next = 0
        self._ended = False
        for queue in self.queues:
            queue.add_listener(self._wake)

    def _wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def add(self, queue: BoundedQueue[T]) -> None:
        """Read ``queue`` too, from now on; ``QueueClosed`` once the mux has ended."""
        with self._cond:
            if self._ended:
                raise QueueClosed(self.name)
            self.queues.append(queue)
            queue.add_listener(self._wake)
            self._cond.notify_all()

    def get(self, timeout: float | None = None) -> T:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                count = len(self.queues)
                drained: list[BoundedQueue[T]] = []
                for step in range(count):
                    index = (self._next + step) % count
                    queue = self.queues[index]
                    try:
                        item = queue.get(timeout=0)
                    except Empty:
                        continue
                    except QueueClosed:
                        drained.append(queue)
                        continue
                    self._next = (index + 1) % count
                    self._forget(drained)
                    return item
                self._forget(drained)
                if not self.queues:
                    self._ended = True
                    raise QueueClosed(self.name)
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise Empty(self.name)
                self._cond.wait(remaining)

    def _forget(self, drained: list[BoundedQueue[T]]) -> None:
        """Drop closed, drained queues from the rotation (the lock held), keeping the turn order."""
        if not drained:
            return
        following = self.queues[self._next % len(self.queues)] if self.queues else None
        self.queues = [q for q in self.queues if not any(q is d for d in drained)]
        if following is not None and not any(following is d for d in drained):
            self._next = next(i for i, q in enumerate(self.queues) if q is following)
        else:
            self._next = self._next % len(self.queues) if self.queues else 0
