"""A small IoU tracker: gives each detection a track id that persists across frames.

Greedy matching by IoU (highest first) between live tracks and the frame's detections; unmatched
detections start tracks; a track survives `max_missed` frames without a match. This is enough for
a fixed camera over a door at a few frames per second; it keeps no motion model on purpose.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agent.detections import Detections
from models.scoring import box_iou


@dataclass
class _Track:
    track_id: int
    box: np.ndarray
    missed: int = 0


class IouTracker:
    """Assigns `tracker_id` to detections; call `update()` once per frame, `reset()` between streams."""

    def __init__(self, iou_threshold: float = 0.3, max_missed: int = 5) -> None:
        self.iou_threshold = iou_threshold
        self.max_missed = max_missed
        self._tracks: list[_Track] = []
        self._next_id = 1

    def reset(self) -> None:
        self._tracks = []

    def live_ids(self) -> set[int]:
        return {t.track_id for t in self._tracks}

    def update(self, detections: Detections) -> Detections:
        ids = np.zeros(len(detections), np.int64)
        iou = box_iou(np.array([t.box for t in self._tracks]).reshape(-1, 4), detections.xyxy)
        matched_tracks: set[int] = set()
        matched_dets: set[int] = set()
        for flat in np.argsort(-iou, axis=None):
            ti, di = divmod(int(flat), len(detections))
            if iou[ti, di] < self.iou_threshold:
                break
            if ti in matched_tracks or di in matched_dets:
                continue
            track = self._tracks[ti]
            track.box, track.missed = detections.xyxy[di], 0
            ids[di] = track.track_id
            matched_tracks.add(ti)
            matched_dets.add(di)
        for ti, track in enumerate(self._tracks):
            if ti not in matched_tracks:
                track.missed += 1
        self._tracks = [t for t in self._tracks if t.missed <= self.max_missed]
        for di in range(len(detections)):
            if di not in matched_dets:
                self._tracks.append(_Track(self._next_id, detections.xyxy[di]))
                ids[di] = self._next_id
                self._next_id += 1
        return Detections(detections.xyxy, detections.confidence, detections.class_id, ids)
