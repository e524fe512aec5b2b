"""Zones and their events, without the network: hysteresis and minimum duration on sequences of
fractions, the share of each class inside a polygon, the checks of the zones config, and the
monitor and sink over real results."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.config import load_config
from pipeline.config_schema import ZoneConfig
from pipeline.events.hub import EventHub
from pipeline.events.monitor import ZoneMonitor
from pipeline.events.tracker import ZoneTracker
from pipeline.events.zones import ZoneArea, check_sizes, resolve_zones
from pipeline.frame import Frame, SegResult
from pipeline.sinks.events import ZoneEventSink
from pipeline.sources.base import SourceInfo
from segcore.errors import ConfigError

NAMES = ("road", "sidewalk", "person")


def run(tracker: ZoneTracker, fractions: list[float], step: float = 1.0) -> list[tuple[int, str]]:
    """(position, event) for each event the tracker makes over ``fractions``, one per ``step`` seconds."""
    events = []
    for i, fraction in enumerate(fractions):
        kind = tracker.observe(fraction, i * step)
        if kind is not None:
            events.append((i, kind))
    return events


# --------------------------------------------------------------------------- hysteresis


def test_hysteresis_starts_at_enter_and_ends_only_below_exit() -> None:
    tracker = ZoneTracker(enter=0.5, exit=0.2, update_interval_s=100.0)
    # wobbling between exit and enter neither starts nor ends anything
    fractions = [0.1, 0.49, 0.3, 0.5, 0.3, 0.21, 0.45, 0.2, 0.19, 0.4, 0.6]
    assert run(tracker, fractions) == [(3, "start"), (8, "end"), (10, "start")]


def test_enter_equal_to_exit_has_no_dead_band() -> None:
    assert run(ZoneTracker(enter=0.5, exit=0.5, update_interval_s=100.0), [0.5, 0.49, 0.5]) == [
        (0, "start"), (1, "end"), (2, "start")]


def test_min_duration_ignores_short_blips_both_ways() -> None:
    tracker = ZoneTracker(enter=0.5, exit=0.3, min_duration_s=2.0, update_interval_s=100.0)
    fractions = [0.9, 0.9, 0.1,  # a 2-frame blip (1 s held): no start
                 0.9, 0.9, 0.9,  # held 2 s at position 5: start
                 0.1, 0.9,       # a 1-frame dip: no end
                 0.1, 0.1, 0.1]  # held 2 s at position 10: end
    assert run(tracker, fractions) == [(5, "start"), (10, "end")]


def test_updates_come_at_most_every_interval_while_active() -> None:
    tracker = ZoneTracker(enter=0.5, exit=0.3, update_interval_s=1.0)
    events = run(tracker, [0.6] * 7 + [0.0], step=0.4)  # t = 0, 0.4, ... 2.4, then 2.8 ends
    assert events == [(0, "start"), (3, "update"), (6, "update"), (7, "end")]
    every = ZoneTracker(enter=0.5, exit=0.3, update_interval_s=0.0)
    assert [kind for _, kind in run(every, [0.6, 0.6, 0.6])] == ["start", "update", "update"]


def test_time_going_backwards_restarts_the_pending_wait() -> None:
    tracker = ZoneTracker(enter=0.5, exit=0.3, min_duration_s=1.0, update_interval_s=100.0)
    assert tracker.observe(0.9, 10.0) is None
    assert tracker.observe(0.9, 0.0) is None  # a loop back to 0: the wait starts again here
    assert tracker.observe(0.9, 0.5) is None
    assert tracker.observe(0.9, 1.0) == "start"


def test_bad_thresholds_are_refused() -> None:
    with pytest.raises(ValueError, match="exit <= enter"):
        ZoneTracker(enter=0.3, exit=0.5)


# --------------------------------------------------------------------------- areas


def zone(polygon: list[list[float]], *, units: str = "normalized", classes: tuple[str, ...] = ("road",),
         source: str = "cam", name: str = "z", **kwargs: float) -> ZoneConfig:
    return ZoneConfig(name=name, polygon=polygon, units=units, classes=list(classes), **kwargs)  # type: ignore[arg-type]


def resolved(*zones: ZoneConfig, source: str = "cam") -> list:
    return resolve_zones({source: list(zones)}, source_ids=[source], class_names=NAMES)


def test_area_counts_each_class_inside_the_polygon_only() -> None:
    class_map = np.zeros((100, 200), np.uint8)
    class_map[:, 100:] = 2  # right half: person
    class_map[50:, :50] = 1  # bottom-left quarter of the left half: sidewalk
    left = ZoneArea(resolved(zone([[0, 0], [0.5, 0], [0.5, 1], [0, 1]]))[0], 200, 100)
    assert left.pixels == 100 * 100
    shares = left.fractions(class_map)
    assert shares[0] == pytest.approx(0.75) and shares[1] == pytest.approx(0.25) and shares[2] == 0
    pixels = ZoneArea(resolved(zone([[100, 0], [200, 0], [200, 100], [100, 100]], units="pixels"))[0], 200, 100)
    assert pixels.fractions(class_map)[2] == pytest.approx(1.0)
    triangle = ZoneArea(resolved(zone([[0, 0], [1, 0], [0, 1]]))[0], 200, 100)
    assert triangle.pixels == pytest.approx(200 * 100 / 2, rel=0.03)


def test_pixel_polygon_past_the_frame_is_refused_before_the_first_frame() -> None:
    zones = resolved(zone([[0, 0], [300, 0], [300, 50]], units="pixels"))
    with pytest.raises(ConfigError, match=r"reaches \(300, 50\), past the source's 200x100 frame"):
        check_sizes(zones, {"cam": (200, 100)})
    check_sizes(zones, {"cam": (0, 0)})  # a size not known before the first frame: nothing to check


# --------------------------------------------------------------------------- the config


ZONES_YAML = """
zones:
  cam:
    - name: ahead
      polygon: [[0.3, 0.6], [0.7, 0.6], [0.9, 1.0], [0.1, 1.0]]
      classes: [road]
      {extra}
"""


@pytest.mark.parametrize(("extra", "message"), [
    ("enter: 0.2\n      exit: 0.4", r"zones\.cam\[0\]\.exit \(0\.4\) is above enter \(0\.2\)"),
    ("units: inches", r"zones\.cam\[0\]\.units .*normalized, pixels"),
    ("enter: 1.5", r"zones\.cam\[0\]\.enter is 1\.5"),
    ("min_duration_s: -1", r"min_duration_s is -1"),
    ("entr: 0.5", r"unknown key 'zones\.cam\[0\]\.entr'; did you mean 'enter'\?"),
])
def test_bad_zone_settings_are_one_line_naming_the_file(tmp_path: Path, extra: str, message: str) -> None:
    path = tmp_path / "zones.yaml"
    path.write_text(ZONES_YAML.format(extra=extra))
    with pytest.raises(ConfigError, match=message) as caught:
        load_config(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize(("zone_yaml", "message"), [
    ("{polygon: [[0, 0], [1, 1]], classes: [road]}", r"\.name is missing"),
    ("{name: a/b, polygon: [[0, 0], [1, 0], [1, 1]], classes: [road]}", r"letters, digits"),
    ("{name: a, polygon: [[0, 0], [1, 1]], classes: [road]}", r"has 2 points; give at least 3"),
    ("{name: a, polygon: [[0, 0], [0.5, 0.5], [1, 1]], classes: [road]}", r"has no area"),
    ("{name: a, polygon: [[0, 0], [2, 0], [1, 1]], classes: [road]}", r"polygon\[1\] is \[2\.0, 0\.0\]; normalized"),
    ("{name: a, polygon: [[0, 0], [1, 0], [1, 1]], classes: []}", r"classes is empty"),
    ("{name: a, polygon: [[0, 0, 1], [1, 0], [1, 1]], classes: [road]}", r"polygon\[0\] .* each point is \[x, y\]"),
])
def test_bad_zones_are_refused(tmp_path: Path, zone_yaml: str, message: str) -> None:
    path = tmp_path / "zones.yaml"
    path.write_text(f"zones:\n  cam:\n    - {zone_yaml}\n")
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_two_zones_with_one_name_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "zones.yaml"
    item = "{name: a, polygon: [[0, 0], [1, 0], [1, 1]], classes: [road]}"
    path.write_text(f"zones:\n  cam:\n    - {item}\n    - {item}\n")
    with pytest.raises(ConfigError, match="'a' is used twice"):
        load_config(path)


def test_unknown_source_or_class_names_the_nearest() -> None:
    with pytest.raises(ConfigError, match=r"no source 'cma' \(did you mean 'cam'\?\); its sources are cam"):
        resolve_zones({"cma": [zone([[0, 0], [1, 0], [1, 1]])]}, source_ids=["cam"], class_names=NAMES)
    with pytest.raises(ConfigError, match=r"no class 'rood' \(did you mean 'road'\?\)"):
        resolved(zone([[0, 0], [1, 0], [1, 1]], classes=("rood",)))


def test_events_without_zones_are_refused() -> None:
    with pytest.raises(ConfigError, match="no zones"):
        load_config(None, ["events.webhook=http://127.0.0.1:9/hook"])


# --------------------------------------------------------------------------- monitor and sink


def result(class_map: np.ndarray, index: int, source: str = "cam") -> SegResult:
    image = np.zeros((*class_map.shape, 3), np.uint8)
    frame = Frame(image=image, source_id=source, index=index, pts=index * 0.5, capture_time=0.0)
    return SegResult(frame=frame, class_map=class_map, fractions=np.zeros(len(NAMES), np.float32))


def test_sink_turns_results_into_events_for_listeners_and_ends_them_at_close() -> None:
    zones = resolved(zone([[0, 0], [0.5, 0], [0.5, 1], [0, 1]], classes=("person", "road"), enter=0.5, exit=0.2,
                          update_interval_s=0.0, name="left"))
    sink = ZoneEventSink(zones)
    got: list = []
    sink.hub.subscribe(got.append)
    sink.hub.subscribe(lambda event: 1 / 0)  # a broken listener is counted, the others still get everything
    sink.open({"cam": SourceInfo("push://cam", 40, 20, None, None, True)})
    empty = np.zeros((20, 40), np.uint8)  # all road
    person = empty.copy()
    person[:, :15] = 2  # 15 of the zone's 20 columns: person 0.75, road 0.25
    for index, class_map in enumerate([empty, person, person, empty]):
        sink.write(result(class_map, index))
    sink.close()
    seen = [(e.type, e.class_name, e.index, round(e.fraction, 2)) for e in got]
    assert seen == [
        ("start", "road", 0, 1.0),
        ("start", "person", 1, 0.75), ("update", "road", 1, 0.25),
        ("update", "person", 2, 0.75), ("update", "road", 2, 0.25),
        ("end", "person", 3, 0.0), ("update", "road", 3, 1.0),
        ("end", "road", 3, 1.0),  # still under way when the run stopped
    ]
    assert got[-1].reason == "stopped" and got[5].reason == "exit"
    assert got[5].id == got[1].id == "cam/left/person/1" and got[5].duration_s == pytest.approx(1.0)
    assert sink.hub.wait_closed(0) and sink.stats()["listener_errors"] == len(got)
    assert sink.hub.active() == [] and len(sink.hub.recent()) == len(got)


def test_monitor_ignores_sources_without_zones_and_redraws_at_a_new_size() -> None:
    monitor = ZoneMonitor(resolved(zone([[0, 0], [1, 0], [1, 1], [0, 1]], enter=0.5, exit=0.5)))
    road = np.zeros((20, 40), np.uint8)
    assert monitor.observe(result(road, 0, source="other")) == []
    assert [e.type for e in monitor.observe(result(road, 0))] == ["start"]
    person = np.full((10, 10), 2, np.uint8)  # the camera came back at another size
    assert [e.type for e in monitor.observe(result(person, 1))] == ["end"]


def test_hub_wait_closed_waits_only_while_a_producer_is_open() -> None:
    hub = EventHub()
    assert hub.wait_closed(0)
    hub.open()
    assert not hub.wait_closed(0.01)
    hub.close()
    assert hub.wait_closed(0)
