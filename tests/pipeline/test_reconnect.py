"""The reconnect state machine, backoff and watchdog, without any network.

``ScriptedCapture`` stands in for a capture object to drive the state machine through exact
sequences (frames, corrupt frames, failures, a read that hangs); it is about the state machine
only. Real RTSP behaviour is tested against a real server in ``test_rtsp.py``.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

import numpy as np
import pytest

from pipeline.config_schema import ReconnectConfig
from pipeline.errors import SourceFailed
from pipeline.frame import Frame
from pipeline.sources.live import MAX_ABANDONED_READERS, LiveSource
from pipeline.sources.reconnect import Backoff, ReconnectMachine, SourceState, SourceStatus
from pipeline.sources.watchdog import ConnectError, StreamProperties
from segcore.errors import ConfigError, SourceError
from tests.pipeline.waiting import wait_until

FAST = ReconnectConfig(
    initial_backoff_s=0.01, max_backoff_s=0.05, jitter=0.0, stall_timeout_s=0.3, open_timeout_s=0.5
)

# -- backoff -----------------------------------------------------------------------------------


def test_backoff_doubles_from_initial_and_is_capped() -> None:
    backoff = Backoff(initial_s=0.5, max_s=10.0, jitter=0.0)
    rng = random.Random(0)
    assert [backoff.delay(n, rng) for n in range(1, 8)] == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert backoff.delay(10_000, rng) == 10.0  # no overflow for a very long outage


def test_backoff_jitter_stays_in_bounds_and_varies() -> None:
    backoff = Backoff(initial_s=1.0, max_s=6.0, jitter=0.25)
    rng = random.Random(1)
    for attempt, (low, high) in [(1, (0.75, 1.25)), (3, (3.0, 5.0)), (4, (4.5, 6.0)), (9, (4.5, 6.0))]:
        assert backoff.bounds(attempt) == pytest.approx((low, high))
        delays = [backoff.delay(attempt, rng) for _ in range(500)]
        assert low <= min(delays) and max(delays) <= high
        if low < high:
            assert max(delays) - min(delays) > 0.5 * (high - low)  # really spread, not a constant


def test_backoff_rejects_nonsense() -> None:
    for initial, maximum, jitter in [(-1.0, 1.0, 0.1), (2.0, 1.0, 0.1), (0.5, 1.0, 1.5)]:
        with pytest.raises(ConfigError, match="source.reconnect"):
            Backoff(initial, maximum, jitter)


def test_machine_rejects_nonsense_config() -> None:
    with pytest.raises(ConfigError, match="max_attempts"):
        ReconnectMachine("cam", ReconnectConfig(max_attempts=-1))


# -- the state machine, with explicit times -----------------------------------------------------


def test_transitions_and_counters_through_one_outage() -> None:
    machine = ReconnectMachine("cam", ReconnectConfig(initial_backoff_s=1.0, max_backoff_s=8.0, jitter=0.0))
    assert machine.state is SourceState.IDLE
    status = machine.start(100.0)
    assert status == SourceStatus("cam", SourceState.CONNECTING, SourceState.IDLE, 100.0, "opening")
    assert machine.on_frame(101.0) is not None and machine.state is SourceState.STREAMING
    assert machine.on_frame(101.1) is None  # already streaming: no status

    status = machine.on_failure(110.0, "read failed")
    assert (status.state, status.previous) == (SourceState.RECONNECTING, SourceState.STREAMING)
    assert machine.next_attempt_at == 111.0 and not machine.due(110.9) and machine.due(111.0)
    assert machine.on_attempt(111.0).reason == "reconnect attempt 1"
    machine.on_failure(111.2, "refused")  # a failed attempt is not another disconnect
    assert machine.next_attempt_at == pytest.approx(113.2)  # the second attempt waits twice as long
    machine.on_attempt(113.2)
    status = machine.on_frame(114.0)
    assert status is not None and status.state is SourceState.STREAMING and "2 attempt" in status.reason

    stats = machine.stats(120.0)
    assert stats["disconnects"] == 1 and stats["reconnects"] == 1 and stats["reconnect_attempts"] == 2
    assert stats["attempt"] == 0 and stats["stalls"] == 0
    assert stats["downtime_s"] == pytest.approx(4.0) and stats["current_downtime_s"] == 0.0


def test_a_stall_counts_downtime_from_the_last_frame() -> None:
    machine = ReconnectMachine("cam", ReconnectConfig(jitter=0.0))
    machine.start(0.0)
    machine.on_frame(1.0)
    machine.on_failure(10.0, "stalled", stall=True, since=5.0)
    assert machine.stats(12.0)["current_downtime_s"] == pytest.approx(7.0)
    assert machine.stats(12.0)["stalls"] == 1 and machine.stats(12.0)["disconnects"] == 1


def test_max_attempts_ends_in_failed_and_downtime_stops_growing() -> None:
    machine = ReconnectMachine("cam", ReconnectConfig(initial_backoff_s=0.1, jitter=0.0, max_attempts=2))
    machine.start(0.0)
    machine.on_frame(0.5)
    now = 1.0
    machine.on_failure(now, "read failed")
    for _ in range(2):
        assert machine.next_attempt_at is not None
        now = machine.next_attempt_at
        machine.on_attempt(now)
        failure = machine.on_failure(now, "refused")
    status = failure
    assert status.state is SourceState.FAILED and "gave up after 2 reconnect attempt(s)" in status.reason
    assert machine.reconnect_attempts == 2
    assert machine.stats(now + 100)["downtime_s"] == pytest.approx(now - 1.0)
    assert machine.stop(now + 100, "closed") is None  # FAILED stays FAILED, with its reason
    with pytest.raises(RuntimeError):
        machine.on_failure(now + 100, "again")


def test_reconnect_disabled_fails_on_the_first_loss() -> None:
    machine = ReconnectMachine("cam", ReconnectConfig(enabled=False))
    machine.start(0.0)
    machine.on_frame(0.1)
    status = machine.on_failure(1.0, "read failed")
    assert status.state is SourceState.FAILED and "reconnect is disabled" in status.reason


def test_a_first_connect_that_fails_is_an_outage_from_the_open() -> None:
    machine = ReconnectMachine("cam", ReconnectConfig(initial_backoff_s=0.5, jitter=0.0))
    machine.start(10.0)
    machine.on_failure(10.2, "refused")
    assert machine.disconnects == 0  # never streamed: nothing was lost
    machine.on_attempt(10.7)
    machine.on_frame(11.0)
    assert machine.reconnects == 1 and machine.stats(11.0)["downtime_s"] == pytest.approx(1.0)


def test_stop_from_any_live_state() -> None:
    machine = ReconnectMachine("cam", ReconnectConfig())
    machine.start(0.0)
    status = machine.stop(1.0, "closed")
    assert status is not None
    assert (status.state, status.previous, status.reason) == (
        SourceState.STOPPED,
        SourceState.CONNECTING,
        "closed",
    )
    assert machine.stop(2.0, "closed") is None


# -- LiveSource driven by scripted captures ------------------------------------------------------

HANG = "hang"  # the read blocks until the capture's ``unblock`` event is set, then fails
FAIL = "fail"  # the read returns (False, None)


def image(width: int = 8, height: int = 6, value: int = 0) -> np.ndarray:
    return np.full((height, width, 3), value, np.uint8)


@dataclass
class ScriptedCapture:
    """A capture that plays ``steps``: an array (a frame, or something undecodable), FAIL, HANG."""

    steps: list[object]
    frame_count: int | None = None
    interval_s: float = 0.02  # a fast camera; the consumer normally keeps up
    unblock: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)
    hanging: threading.Event = field(default_factory=threading.Event)  # set when a read starts to hang

    def read(self) -> tuple[bool, np.ndarray | None]:
        time.sleep(self.interval_s)
        step = self.steps.pop(0) if self.steps else FAIL
        if isinstance(step, str):  # HANG or FAIL
            if step == HANG:
                self.hanging.set()
                self.unblock.wait()
            return False, None
        return True, step  # type: ignore[return-value]

    def position_s(self) -> float | None:
        return None

    def properties(self) -> StreamProperties:
        return StreamProperties(fps=25.0, codec="test", frame_count=self.frame_count)

    def release(self) -> None:
        self.released.set()


class ScriptedConnector:
    """Hands out the given outcomes one per attempt (a capture, or an exception to raise); then fails."""

    def __init__(self, outcomes: Iterable[ScriptedCapture | Exception]) -> None:
        self.outcomes = list(outcomes)
        self.attempts = 0

    def __call__(self) -> ScriptedCapture:
        self.attempts += 1
        outcome = self.outcomes.pop(0) if self.outcomes else ConnectError("nothing there")
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def make_source(
    connector: Callable[[], ScriptedCapture],
    config: ReconnectConfig = FAST,
    statuses: list[SourceStatus] | None = None,
    uri: str = "test://camera",
) -> LiveSource:
    return LiveSource(
        uri=uri,
        source_id="cam",
        reconnect=config,
        connect=connector,
        on_status=None if statuses is None else statuses.append,
    )


def read_all(source: LiveSource) -> list[Frame]:
    """Every frame until the source ends (None) or gives up (SourceFailed, which says why)."""
    frames = []
    with contextlib.suppress(SourceFailed):
        while (frame := source.read()) is not None:
            frames.append(frame)
    return frames


def assert_real_and_in_order(values: list[int], *, produced: list[int], dropped: object) -> None:
    """Each delivered frame is one the capture decoded, once, in order; the rest were dropped."""
    assert values == sorted(set(values)) and set(values) <= set(produced)
    assert len(values) + int(dropped) == len(produced)  # type: ignore[call-overload]


def states(statuses: list[SourceStatus]) -> list[str]:
    return [s.state.value for s in statuses]


def test_frames_flow_across_a_reconnect_and_nothing_is_invented() -> None:
    first = ScriptedCapture([image(value=v) for v in (1, 2, 3)] + [FAIL])
    second = ScriptedCapture([image(value=v) for v in (4, 5)] + [FAIL])
    statuses: list[SourceStatus] = []
    source = make_source(ScriptedConnector([first, second]), replace(FAST, max_attempts=1), statuses)
    info = source.open()
    assert (info.width, info.height, info.fps, info.codec, info.is_live) == (8, 6, 25.0, "test", True)

    frames = read_all(source)
    values = [int(f.image[0, 0, 0]) for f in frames]
    assert_real_and_in_order(values, produced=[1, 2, 3, 4, 5], dropped=source.stats()["dropped_frames"])
    assert {1, 2, 3} & set(values) and {4, 5} & set(values)  # both connections delivered
    assert [f.index for f in frames] == list(range(len(frames)))
    assert all(f.source_id == "cam" for f in frames)
    assert states(statuses) == [
        "connecting", "streaming", "reconnecting", "connecting", "streaming", "reconnecting", "connecting", "failed",
    ]  # fmt: skip
    stats = source.stats()
    assert stats["state"] == "failed" and "gave up after 1" in str(stats["reason"])
    assert (stats["disconnects"], stats["reconnects"], stats["reconnect_attempts"]) == (2, 1, 2)
    assert stats["frames"] == len(frames)
    assert first.released.is_set() and second.released.is_set()


def test_corrupt_frames_are_skipped_and_counted() -> None:
    bad = [None, np.zeros((0, 0, 3), np.uint8), np.zeros((6, 8), np.uint8), np.zeros((6, 8, 3), np.float32)]
    capture = ScriptedCapture([image(value=1), *bad, image(value=2), FAIL])
    source = make_source(ScriptedConnector([capture]), replace(FAST, enabled=False))
    source.open()
    values = [int(f.image[0, 0, 0]) for f in read_all(source)]
    assert_real_and_in_order(values, produced=[1, 2], dropped=source.stats()["dropped_frames"])
    assert source.stats()["corrupt_frames"] == len(bad)


def test_stall_abandons_the_hung_capture_and_reconnects() -> None:
    hung = ScriptedCapture([image(value=1), image(value=2), HANG])
    fresh = ScriptedCapture([image(value=v) for v in (3, 4, 5)] + [FAIL])
    statuses: list[SourceStatus] = []
    source = make_source(ScriptedConnector([hung, fresh]), replace(FAST, max_attempts=1), statuses)
    source.open()
    values, stamps = [], []
    with pytest.raises(SourceFailed, match="lost after .* frames"):  # the second capture's attempts run out
        while (frame := source.read()) is not None:
            values.append(int(frame.image[0, 0, 0]))
            stamps.append(frame.capture_time)
    assert_real_and_in_order(values, produced=[1, 2, 3, 4, 5], dropped=source.stats()["dropped_frames"])
    stall = next(s for s in statuses if "stalled" in s.reason)
    last_before = stamps[values.index(2)]  # the hung capture's last frame
    assert FAST.stall_timeout_s <= stall.time - last_before <= FAST.stall_timeout_s + 0.3
    stats = source.stats()
    assert stats["stalls"] == 1 and stats["abandoned_total"] == 1 and stats["abandoned_readers"] == 1
    assert not hung.released.is_set()  # its thread is still blocked in read(): nobody joined it
    hung.unblock.set()
    assert hung.released.wait(2.0)  # once the read returns, the abandoned thread releases its capture
    wait_until(lambda: source.stats()["abandoned_readers"] == 0, what="abandoned reader leaving")


def test_close_is_prompt_while_a_read_hangs() -> None:
    hung = ScriptedCapture([image(), HANG])
    source = make_source(ScriptedConnector([hung]), replace(FAST, stall_timeout_s=30.0))
    source.open()
    assert source.read() is not None
    results: list[Frame | None] = []
    consumer = threading.Thread(target=lambda: results.append(source.read()))
    consumer.start()
    assert hung.hanging.wait(5.0)  # the reader hangs; the consumer waits in read()
    started = time.monotonic()
    source.close()
    assert time.monotonic() - started < 1.0
    consumer.join(1.0)
    assert not consumer.is_alive() and results == [None]
    assert source.stats()["state"] == "stopped" and source.read() is None
    source.close()  # twice is fine
    hung.unblock.set()
    assert hung.released.wait(2.0)


def test_close_is_prompt_while_waiting_for_a_backoff() -> None:
    source = make_source(
        ScriptedConnector([]), ReconnectConfig(initial_backoff_s=30.0, max_backoff_s=30.0, open_timeout_s=0.2)
    )
    assert source.open().width == 0  # not connected, still trying
    assert source.stats()["state"] == "reconnecting"
    timer = threading.Timer(0.2, source.close)
    timer.start()
    started = time.monotonic()
    assert source.read() is None
    assert time.monotonic() - started < 0.2 + 0.5
    timer.join()


def test_open_returns_size_zero_then_the_first_frame_brings_the_size() -> None:
    late = ScriptedCapture([image(width=16, height=4), FAIL])
    connector = ScriptedConnector([ConnectError("refused")] * 3 + [late])
    # Three refusals 0.6 s apart outlast open()'s wait (open_timeout_s + 1 s).
    config = replace(FAST, initial_backoff_s=0.6, max_backoff_s=0.6, open_timeout_s=0.1)
    source = make_source(connector, config)
    started = time.monotonic()
    info = source.open()
    assert time.monotonic() - started < config.open_timeout_s + 1.5  # open() never hangs
    assert (info.width, info.height) == (0, 0)
    frame = source.read()
    assert frame is not None and frame.size == (16, 4) and source.info.width == 16
    source.close()


def test_open_raises_when_reconnect_is_disabled() -> None:
    disabled = make_source(ScriptedConnector([ConnectError("refused")]), replace(FAST, enabled=False))
    with pytest.raises(SourceError, match="refused; reconnect is disabled"):
        disabled.open()


@pytest.mark.parametrize("attempts", [2, 40])
def test_attempts_that_run_out_fail_at_read_however_fast_they_ran_out(attempts: int) -> None:
    """Two attempts run out inside open()'s wait, forty after it: the same outcome, at the first read
    and every read after it, never ``None`` (which would say the stream simply ended)."""
    limited = make_source(ScriptedConnector([]), replace(FAST, max_attempts=attempts))
    assert limited.open().width == 0
    for _ in range(2):
        with pytest.raises(SourceFailed, match=f"cannot open test://camera: nothing there; gave up after {attempts}") as error:
            limited.read()
        assert error.value.exit_code == 2 and not error.value.delivered_frames
    assert limited.stats()["state"] == "failed"


def test_a_source_lost_for_good_is_a_runtime_failure() -> None:
    source = make_source(ScriptedConnector([ScriptedCapture([image(), FAIL])]), replace(FAST, max_attempts=1))
    source.open()
    assert source.read() is not None
    with pytest.raises(SourceFailed, match="lost after 1 frames: .*gave up after 1") as error:
        source.read()
    assert error.value.exit_code == 1 and error.value.delivered_frames


def test_a_disconnect_with_reconnect_disabled_ends_the_source() -> None:
    source = make_source(ScriptedConnector([ScriptedCapture([image(), FAIL])]), replace(FAST, enabled=False))
    source.open()
    assert len(read_all(source)) == 1
    assert source.stats()["state"] == "failed" and source.stats()["disconnects"] == 1


def test_a_new_frame_size_after_a_reconnect_just_flows() -> None:
    first = ScriptedCapture([image(8, 6)] * 2 + [FAIL])
    second = ScriptedCapture([image(12, 10)] * 2 + [FAIL])
    source = make_source(ScriptedConnector([first, second]), replace(FAST, max_attempts=1))
    source.open()
    sizes = [f.size for f in read_all(source)]
    assert list(dict.fromkeys(sizes)) == [(8, 6), (12, 10)]
    assert (source.info.width, source.info.height) == (12, 10)
    assert source.stats()["size_changes"] == 1


def test_a_finite_stream_ends_instead_of_reconnecting() -> None:
    capture = ScriptedCapture([image()] * 3 + [FAIL], frame_count=3)
    connector = ScriptedConnector([capture])
    source = make_source(connector, FAST)
    info = source.open()
    assert info.frame_count == 3 and not info.is_live
    assert len(read_all(source)) == 3
    assert source.stats()["state"] == "stopped" and source.stats()["reason"] == "end of stream"
    assert connector.attempts == 1


def test_stuck_reader_threads_are_capped() -> None:
    hung = [ScriptedCapture([image(), HANG]) for _ in range(MAX_ABANDONED_READERS + 2)]
    connector = ScriptedConnector(hung)
    config = replace(FAST, stall_timeout_s=0.05)
    source = make_source(connector, config)
    source.open()
    for _ in range(MAX_ABANDONED_READERS):
        assert source.read() is not None  # each capture gives one frame, then hangs and is abandoned
    wait_until(  # stats() runs the watchdog too
        lambda: int(source.stats()["abandoned_readers"]) >= MAX_ABANDONED_READERS, what="abandoned readers"
    )
    time.sleep(0.5)  # what must not happen: several more attempts would fit in this time, were they allowed
    stats = source.stats()
    assert stats["abandoned_readers"] == MAX_ABANDONED_READERS and connector.attempts == MAX_ABANDONED_READERS
    assert stats["state"] == "reconnecting"
    hung[0].unblock.set()  # one thread ends: one more attempt may start
    assert source.read() is not None
    assert connector.attempts == MAX_ABANDONED_READERS + 1
    source.close()
    for capture in hung:
        capture.unblock.set()


def test_credentials_stay_out_of_statuses_stats_and_errors(caplog: pytest.LogCaptureFixture) -> None:
    secret_uri = "rtsp://admin:hunter2@10.0.0.9/stream"
    statuses: list[SourceStatus] = []
    connector = ScriptedConnector(
        [ConnectError(f"could not open {secret_uri}"), RuntimeError(f"boom at {secret_uri}")]
    )
    source = make_source(connector, replace(FAST, max_attempts=1), statuses, uri=secret_uri)
    with caplog.at_level("DEBUG"), pytest.raises(SourceFailed) as error:
        source.open()
        source.read()
    seen = [str(error.value), repr(source), source.info.uri, str(source.stats()), caplog.text]
    seen += [s.reason for s in statuses]
    assert "rtsp://***@10.0.0.9/stream" in source.info.uri
    assert not [text for text in seen if "hunter2" in text]
    assert any("boom" in s.reason for s in statuses)  # the reason itself survives, masked


def test_a_failing_status_callback_does_not_stop_the_source() -> None:
    def explode(status: SourceStatus) -> None:
        raise ValueError("host bug")

    capture = ScriptedCapture([image(), FAIL])
    source = LiveSource(
        uri="test://x",
        source_id="cam",
        reconnect=replace(FAST, enabled=False),
        connect=ScriptedConnector([capture]),
        on_status=explode,
    )
    source.open()
    assert len(read_all(source)) == 1
