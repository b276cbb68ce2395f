"""Counting: occupancy in a zone and in/out totals across a line, per camera.

Coordinates here are pixels of the frame; the config's normalised points are scaled once the frame
size is known (`CameraCounter.update`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import cv2
import numpy as np

from agent.config import CameraConfig, TrackerConfig
from agent.detections import Detections
from agent.tracker import IouTracker


class PolygonZone:
    """Which anchors lie inside a polygon (boundary counts as inside)."""

    def __init__(self, polygon: np.ndarray) -> None:
        self.polygon = np.asarray(polygon, np.float32).reshape(-1, 1, 2)

    def contains(self, points: np.ndarray) -> np.ndarray:
        return np.array(
            [cv2.pointPolygonTest(self.polygon, (float(x), float(y)), False) >= 0 for x, y in points], dtype=bool
        )


def signed_distance(start: np.ndarray, end: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Each point's distance to the directed line start -> end, positive on its left-hand (+1) side."""
    d = end - start
    cross = d[0] * (points[:, 1] - start[1]) - d[1] * (points[:, 0] - start[0])
    return cross / float(np.hypot(*d))


def side_of_line(start: np.ndarray, end: np.ndarray, points: np.ndarray, band: float = 0.0) -> np.ndarray:
    """+1 / -1 / 0 for each point: which side of the directed line start -> end it lies on (0: within `band`)."""
    distance = signed_distance(start, end, points)
    return np.where(np.abs(distance) < band, 0, np.sign(distance)).astype(np.int8)


@dataclass
class _TrackSide:
    confirmed: int  # side the track is known to be on
    candidate: int = 0  # side it has been seen on lately, if different
    streak: int = 0  # consecutive frames on `candidate`
    since: tuple[float, int] = (0.0, 0)  # (ts, frame) of the streak's first frame: when the track crossed


@dataclass(frozen=True)
class Crossing:
    """One counted crossing of the line: which track, which way, and the frame it crossed on."""

    track_id: int
    direction: Literal["in", "out"]
    ts: float = 0.0
    frame: int = 0


class LineCounter:
    """In/out totals of tracks crossing a line segment, with hysteresis against jitter.

    A track's side only changes after `min_frames` consecutive frames on the other side, and only
    while its anchor projects onto the segment, so a box wobbling on the line never double counts.
    Anchors closer to the line than `band_px` are on neither side (someone standing on the line is not
    crossing it back and forth). Moving to the side of `inside` counts `in`; the other way counts `out`.

    A crossing is counted `confirm_s` after it happened, and dropped with the crossing back if the same track
    returns within that time: a box flickering across the line, someone stepping on it and back. 0 counts
    at once. A track that ends while its crossing waits still counts it (people leave the view after a door).
    """

    def __init__(self, start: np.ndarray, end: np.ndarray, inside: np.ndarray, min_frames: int = 3,
                 band_px: float = 0.0, confirm_s: float = 0.0) -> None:
        self.start = np.asarray(start, np.float64)
        self.end = np.asarray(end, np.float64)
        self.inside_side = int(side_of_line(self.start, self.end, np.asarray([inside], np.float64))[0])
        self.min_frames = min_frames
        self.band_px = band_px
        self.confirm_s = confirm_s
        self.in_count = 0
        self.out_count = 0
        self._tracks: dict[int, _TrackSide] = {}
        self._pending: list[Crossing] = []  # crossed, not yet confirmed; oldest first

    def reset(self) -> None:
        self.in_count = self.out_count = 0
        self._tracks.clear()
        self._pending.clear()

    def _on_segment(self, points: np.ndarray) -> np.ndarray:
        d = self.end - self.start
        t = ((points - self.start) @ d) / float(d @ d)
        return (t >= 0.0) & (t <= 1.0)

    def trigger(self, anchors: np.ndarray, track_ids: np.ndarray, ts: float = 0.0, frame: int = 0) -> list[Crossing]:
        """Update with one frame's tracked anchors (taken at `ts`); returns the crossings confirmed now."""
        anchors = np.asarray(anchors, np.float64).reshape(-1, 2)
        sides = side_of_line(self.start, self.end, anchors, self.band_px)
        on_segment = self._on_segment(anchors)
        for i, (track_id, side) in enumerate(zip(track_ids.tolist(), sides.tolist(), strict=True)):
            if side == 0:
                continue
            state = self._tracks.get(track_id)
            if state is None:
                self._tracks[track_id] = _TrackSide(confirmed=side)
                continue
            if side == state.confirmed:
                state.candidate, state.streak = 0, 0
                continue
            if not on_segment[i]:
                state.candidate, state.streak = 0, 0  # crossed the infinite line beside the door
                continue
            if state.candidate != side:
                state.candidate, state.streak, state.since = side, 0, (ts, frame)
            state.streak += 1
            if state.streak >= self.min_frames:
                state.confirmed, state.candidate, state.streak = side, 0, 0
                self._crossed(Crossing(track_id, "in" if side == self.inside_side else "out", *state.since))
        return self._confirm(lambda crossing: ts - crossing.ts >= self.confirm_s)

    def _crossed(self, crossing: Crossing) -> None:
        """Hold a crossing until confirmed; one that undoes the track's waiting crossing cancels both."""
        waiting = next((p for p in self._pending if p.track_id == crossing.track_id), None)
        if waiting is not None:
            self._pending.remove(waiting)
        else:
            self._pending.append(crossing)

    def _confirm(self, due: Callable[[Crossing], bool]) -> list[Crossing]:
        confirmed = [p for p in self._pending if due(p)]
        self._pending = [p for p in self._pending if not due(p)]
        for crossing in confirmed:
            if crossing.direction == "in":
                self.in_count += 1
            else:
                self.out_count += 1
        return confirmed

    def flush(self) -> list[Crossing]:
        """Confirm every waiting crossing now (the stream ended)."""
        return self._confirm(lambda crossing: True)

    def forget(self, live_ids: set[int]) -> None:
        """Drop the state of tracks that ended (their waiting crossings still count when due)."""
        for track_id in list(self._tracks):
            if track_id not in live_ids:
                del self._tracks[track_id]


@dataclass
class CountResult:
    """One frame's count (zone occupancy), in/out totals and the crossings counted on this frame.

    `people` are the frame's detections of the counted label, tracked when the camera has a line.
    """

    count: int
    in_total: int
    out_total: int
    crossings: list[Crossing] = field(default_factory=list)
    people: Detections = field(default_factory=Detections.empty)

    @property
    def crossed(self) -> int:
        return len(self.crossings)


@dataclass
class CameraCounter:
    """A camera's counting state: optional zone, tracker and line. The label to count comes per frame,
    with the model that produced it (a swapped model may number its labels differently)."""

    config: CameraConfig
    tracker_config: TrackerConfig
    _tracker: IouTracker = field(init=False)
    _zone: PolygonZone | None = field(init=False, default=None)
    _line: LineCounter | None = field(init=False, default=None)
    _frame_size: tuple[int, int] | None = field(init=False, default=None)
    _totals: tuple[int, int] = field(init=False, default=(0, 0))  # (in, out) until the line exists

    def __post_init__(self) -> None:
        self._tracker = IouTracker(self.tracker_config.iou_threshold, self.tracker_config.max_missed)

    def _scale(self, width: int, height: int) -> None:
        if self._frame_size == (width, height):
            return
        scale = np.array([width, height], np.float64)
        in_out = self.totals
        if self.config.zone:
            self._zone = PolygonZone(np.asarray(self.config.zone) * scale)
        if self.config.line:
            line = self.config.line
            self._line = LineCounter(
                np.asarray(line.start) * scale, np.asarray(line.end) * scale,
                np.asarray(line.inside) * scale, line.min_frames, line.band * height, line.confirm_s,
            )
            self._line.in_count, self._line.out_count = in_out  # totals survive a resolution change
        self._frame_size = (width, height)

    def update(self, detections: Detections, width: int, height: int, class_id: int, ts: float = 0.0,
               frame: int = 0) -> CountResult:
        """Count one frame (taken at `ts`, index `frame` in its stream)."""
        self._scale(width, height)
        counted = detections.class_id == class_id
        people = detections if counted.all() else detections[counted]  # a one-label model: no copy
        if self._zone is None and self._line is None:
            return CountResult(len(people), 0, 0, people=people)
        anchors = people.anchors(self.config.anchor)
        count = int(self._zone.contains(anchors).sum()) if self._zone else len(people)
        if self._line is None:
            return CountResult(count, 0, 0, people=people)
        tracked = self._tracker.update(people)
        assert tracked.tracker_id is not None
        crossings = self._line.trigger(anchors, tracked.tracker_id, ts, frame)
        self._line.forget(self._tracker.live_ids())
        return CountResult(count, self._line.in_count, self._line.out_count, crossings, tracked)

    def flush(self) -> list[Crossing]:
        """The crossings still waiting for confirmation, confirmed now (the stream ended); `totals` include them."""
        return self._line.flush() if self._line else []

    @property
    def totals(self) -> tuple[int, int]:
        """(in, out) counted so far."""
        return (self._line.in_count, self._line.out_count) if self._line else self._totals

    def restore(self, in_total: int, out_total: int) -> None:
        """Count on from these totals (kept across a restart; 0, 0 for a new period). Tracks are kept."""
        self._totals = (in_total, out_total)
        if self._line:
            self._line.in_count, self._line.out_count = in_total, out_total

    def reset_tracks(self) -> None:
        """After a stream gap the old tracks mean nothing; totals are kept."""
        self._tracker.reset()
        if self._line:
            self._line.forget(set())
