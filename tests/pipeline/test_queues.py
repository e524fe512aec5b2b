"""BoundedQueue policies, counters, close semantics, and the round-robin reader."""

from __future__ import annotations

import threading
import time

import pytest

from pipeline.queues import BoundedQueue, DropPolicy, Empty, Full, QueueClosed, RoundRobin


def test_block_keeps_every_item_in_order_and_waits_for_room() -> None:
    q: BoundedQueue[int] = BoundedQueue(2, DropPolicy.BLOCK)
    assert q.put(1) and q.put(2)
    with pytest.raises(Full):
        q.put(3, timeout=0.05)
    taken: list[int] = []

    def consume() -> None:
        time.sleep(0.05)
        taken.append(q.get())

    t = threading.Thread(target=consume)
    t.start()
    started = time.monotonic()
    assert q.put(3)  # blocks until the consumer made room
    assert time.monotonic() - started >= 0.03
    t.join()
    assert taken == [1]
    assert [q.get(), q.get()] == [2, 3]
    assert q.dropped == 0 and q.puts == 3 and q.gets == 3 and q.max_depth == 2


def test_drop_oldest_keeps_the_newest_and_counts() -> None:
    q: BoundedQueue[int] = BoundedQueue(1, DropPolicy.DROP_OLDEST)
    for i in range(5):
        assert q.put(i) is True
    assert q.get() == 4
    assert q.dropped == 4
    assert q.stats()["dropped"] == 4 and q.stats()["policy"] == "drop_oldest"


def test_drop_newest_refuses_and_counts() -> None:
    q: BoundedQueue[int] = BoundedQueue(2, DropPolicy.DROP_NEWEST)
    assert [q.put(i) for i in range(4)] == [True, True, False, False]
    assert [q.get(), q.get()] == [0, 1]
    assert q.dropped == 2


def test_get_timeout_and_nonblocking() -> None:
    q: BoundedQueue[int] = BoundedQueue(1)
    with pytest.raises(Empty):
        q.get(timeout=0)
    started = time.monotonic()
    with pytest.raises(Empty):
        q.get(timeout=0.05)
    assert time.monotonic() - started >= 0.04


def test_close_drains_then_raises() -> None:
    q: BoundedQueue[int] = BoundedQueue(3)
    q.put(1)
    q.put(2)
    q.close()
    with pytest.raises(QueueClosed):
        q.put(3)
    assert [q.get(), q.get()] == [1, 2]
    with pytest.raises(QueueClosed):
        q.get()
    q.close()  # idempotent


def _blocked(action: object) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            action()  # type: ignore[operator]
        except BaseException as exc:  # noqa: BLE001 - the test inspects what was raised
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    time.sleep(0.05)
    assert thread.is_alive(), "the call should be blocked"
    return thread, errors


def test_close_wakes_a_blocked_put_from_another_thread() -> None:
    q: BoundedQueue[int] = BoundedQueue(1)
    q.put(0)
    thread, errors = _blocked(lambda: q.put(1))
    q.close()
    thread.join(1.0)
    assert not thread.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], QueueClosed)


def test_close_wakes_a_blocked_get_from_another_thread() -> None:
    q: BoundedQueue[int] = BoundedQueue(1)
    thread, errors = _blocked(q.get)
    q.close()
    thread.join(1.0)
    assert not thread.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], QueueClosed)


def test_clear_counts_discarded_items_and_frees_room() -> None:
    q: BoundedQueue[int] = BoundedQueue(2)
    q.put(1)
    q.put(2)
    thread, errors = _blocked(lambda: q.put(3))
    assert q.clear() == 2
    thread.join(1.0)
    assert not errors and q.get() == 3
    assert q.dropped == 2


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError):
        BoundedQueue(0)


def test_round_robin_is_fair_and_skips_empty_and_closed_queues() -> None:
    a: BoundedQueue[str] = BoundedQueue(10, name="a")
    b: BoundedQueue[str] = BoundedQueue(10, name="b")
    c: BoundedQueue[str] = BoundedQueue(10, name="c")
    for i in range(4):
        a.put(f"a{i}")
    for i in range(2):
        b.put(f"b{i}")
    c.close()  # a finished source
    mux = RoundRobin([a, b, c])
    got = [mux.get(timeout=0) for _ in range(6)]
    assert got == ["a0", "b0", "a1", "b1", "a2", "a3"]
    with pytest.raises(Empty):
        mux.get(timeout=0.02)  # a and b are open but empty
    a.close()
    b.close()
    with pytest.raises(QueueClosed):
        mux.get()


def test_round_robin_wakes_on_put_and_on_close() -> None:
    a: BoundedQueue[int] = BoundedQueue(1)
    b: BoundedQueue[int] = BoundedQueue(1)
    mux = RoundRobin([a, b])
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(mux.get()), daemon=True)
    thread.start()
    time.sleep(0.05)
    b.put(7)
    thread.join(1.0)
    assert result == [7]
    thread, errors = _blocked(mux.get)
    a.close()
    time.sleep(0.02)
    assert thread.is_alive()  # b is still open
    b.close()
    thread.join(1.0)
    assert not thread.is_alive() and isinstance(errors[0], QueueClosed)
