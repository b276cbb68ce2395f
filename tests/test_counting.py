"""Tracker and line counting on generated tracks with known in/out totals, jitter included."""

from __future__ import annotations

import numpy as np
import pytest

from agent.config import CameraConfig, LineConfig, TrackerConfig
from agent.counting import CameraCounter, Crossing, LineCounter, PolygonZone
from agent.detections import Detections
from agent.tracker import IouTracker

W, H = 640, 480
DOOR = LineConfig(start=(0.0, 0.5), end=(1.0, 0.5), inside=(0.5, 1.0), min_frames=3)


def person(cx: float, cy: float, size: float = 40) -> list[float]:
    return [cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2]


def frame(boxes: list[list[float]], class_id: int = 1) -> Detections:
    n = len(boxes)
    return Detections(np.array(boxes, np.float32).reshape(-1, 4), np.full(n, 0.9), np.full(n, class_id))


def walk(y_from: float, y_to: float, steps: int, x: float = 320) -> list[tuple[float, float]]:
    return [(x, y) for y in np.linspace(y_from, y_to, steps)]


def run(counter: CameraCounter, frames: list[list[tuple[float, float]]], fps: float = 10.0) -> tuple[int, int]:
    """Totals after the frames (taken `fps` a second) and the end of the stream."""
    for index, positions in enumerate(frames):
        counter.update(frame([person(x, y) for x, y in positions]), W, H, class_id=1, ts=index / fps, frame=index)
    counter.flush()
    return counter.totals


def door_counter(line: LineConfig = DOOR) -> CameraCounter:
    return CameraCounter(CameraConfig(name="door", source="x.avi", line=line), TrackerConfig())


def test_tracker_keeps_ids_and_survives_a_missed_frame() -> None:
    tracker = IouTracker(iou_threshold=0.3, max_missed=2)
    first = tracker.update(frame([person(100, 100), person(300, 100)]))
    moved = tracker.update(frame([person(305, 104), person(104, 102)]))
    assert list(moved.tracker_id) == [first.tracker_id[1], first.tracker_id[0]]
    tracker.update(frame([]))
    back = tracker.update(frame([person(106, 104)]))
    assert back.tracker_id[0] == first.tracker_id[0]


@pytest.mark.parametrize(
    ("walkers", "expected"),
    [
        ([walk(100, 400, 20)], (1, 0)),  # one person walks in
        ([walk(400, 100, 20)], (0, 1)),  # one walks out
        ([walk(100, 400, 20, x=100), walk(400, 100, 20, x=500)], (1, 1)),
        ([walk(100, 400, 20, x=100), walk(120, 420, 20, x=300), walk(80, 380, 20, x=520)], (3, 0)),
        ([walk(100, 200, 10)], (0, 0)),  # stops before the line
    ],
)
def test_line_totals_are_exact(walkers: list[list[tuple[float, float]]], expected: tuple[int, int]) -> None:
    frames = [list(positions) for positions in zip(*walkers, strict=True)]
    assert run(door_counter(), frames) == expected


def test_jitter_on_the_line_does_not_double_count() -> None:
    # Approach, wobble across the line every frame for a while, then walk in.
    path = walk(150, 235, 8) + [(320, 240 + (6 if i % 2 else -6)) for i in range(12)] + walk(250, 400, 10)
    assert run(door_counter(), [[p] for p in path]) == (1, 0)


def test_brief_excursion_across_the_line_is_ignored() -> None:
    path = walk(150, 230, 8) + [(320, 250), (320, 252)] + walk(230, 120, 8)  # 2 frames < min_frames 3
    assert run(door_counter(), [[p] for p in path]) == (0, 0)


def test_crossing_beside_the_segment_is_not_counted() -> None:
    short_door = LineConfig(start=(0.4, 0.5), end=(0.6, 0.5), inside=(0.5, 1.0), min_frames=2)
    beside = walk(100, 400, 20, x=50)
    through = walk(100, 400, 20, x=320)
    assert run(door_counter(short_door), [[a, b] for a, b in zip(beside, through, strict=True)]) == (1, 0)


def test_line_counter_trigger_returns_the_crossings_confirmed_on_the_frame() -> None:
    line = LineCounter(np.array([0, 100.0]), np.array([200, 100.0]), np.array([100, 200.0]), min_frames=1,
                       confirm_s=0.5)
    line.trigger(np.array([[50, 90.0]]), np.array([7]), ts=0.0, frame=0)
    assert line.trigger(np.array([[50, 110.0]]), np.array([7]), ts=0.1, frame=1) == []  # crossed, waiting
    assert line.trigger(np.array([[50, 120.0]]), np.array([7]), ts=0.5, frame=5) == []
    assert line.trigger(np.array([[50, 130.0]]), np.array([7]), ts=0.6, frame=6) == [Crossing(7, "in", 0.1, 1)]
    assert (line.in_count, line.out_count) == (1, 0)
    line.reset()
    assert (line.in_count, line.out_count) == (0, 0)


@pytest.mark.parametrize(("confirm_s", "expected"), [(0.0, (2, 1)), (0.5, (1, 0))])
def test_a_crossing_undone_within_the_confirmation_time_counts_neither(confirm_s: float,
                                                                         expected: tuple[int, int]) -> None:
    """Someone steps onto the line, lingers, and their box flickers back across it for a few frames."""
    door = DOOR.model_copy(update={"min_frames": 2, "confirm_s": confirm_s, "band": 0.0})
    path = walk(150, 245, 8) + [(320, 245)] * 5 + [(320, 236)] * 3 + [(320, 245)] * 10
    assert run(door_counter(door), [[p] for p in path]) == expected


def test_a_track_that_ends_while_its_crossing_waits_still_counts() -> None:
    door = DOOR.model_copy(update={"min_frames": 2, "confirm_s": 1.0})
    path = [[p] for p in walk(150, 300, 10)] + [[]] * 20  # crosses, then leaves the view at once
    assert run(door_counter(door), path) == (1, 0)


def test_waiting_crossings_count_when_the_stream_ends() -> None:
    door = DOOR.model_copy(update={"min_frames": 2, "confirm_s": 5.0})
    counter = door_counter(door)
    for index, (x, y) in enumerate(walk(150, 300, 10)):
        result = counter.update(frame([person(x, y)]), W, H, class_id=1, ts=index / 10, frame=index)
    assert (result.in_total, result.crossings) == (0, [])
    flushed = counter.flush()
    assert [(c.direction, c.frame) for c in flushed] == [("in", 6)] and counter.totals == (1, 0)


@pytest.mark.parametrize(("band_px", "expected"), [(0.0, (1, 1)), (4.0, (0, 0))])
def test_standing_on_the_line_is_not_crossing_it(band_px: float, expected: tuple[int, int]) -> None:
    """A person lingering 1-3 px either side of the line: counted twice without a dead band, never with one."""
    line = LineCounter(np.array([0, 100.0]), np.array([200, 100.0]), np.array([100, 200.0]), min_frames=2,
                       band_px=band_px)
    for y in [110, 106, 102, 99, 98, 97, 101, 102, 103, 103, 110]:  # below, on the line (up, down), below
        line.trigger(np.array([[50, float(y)]]), np.array([3]))
    assert (line.in_count, line.out_count) == expected


def test_zone_and_label_filter_occupancy() -> None:
    camera = CameraConfig(name="door", source="x.avi", zone=[(0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)])
    counter = CameraCounter(camera, TrackerConfig())
    dets = Detections(
        np.array([person(100, 100), person(200, 300), person(500, 100), person(150, 150)], np.float32),
        np.full(4, 0.9), np.array([1, 1, 1, 2]),
    )
    assert counter.update(dets, W, H, class_id=1).count == 2  # third is outside the zone, fourth is another label


def test_polygon_zone_boundary_counts_inside() -> None:
    zone = PolygonZone(np.array([[0, 0], [10, 0], [10, 10], [0, 10]]))
    assert zone.contains(np.array([[5, 5], [10, 5], [11, 5]])).tolist() == [True, True, False]


def test_detections_validate_shapes() -> None:
    with pytest.raises(ValueError, match="2 boxes but 1 scores"):
        Detections(np.zeros((2, 4)), np.zeros(1), np.zeros(2))
    assert len(Detections.empty()) == 0
