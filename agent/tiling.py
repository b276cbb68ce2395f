"""Tiled inference: the full frame plus overlapping crops, merged so each person counts once.

A detector with a 300x300 input sees a 768x576 camera frame at less than half its resolution, and small,
distant people vanish. Running it again on overlapping crops (each `fraction` of the frame, `rows` x
`cols` of them) gives those people more pixels. The merge has one subtlety beyond NMS: a person cut by a
crop's inner border yields a truncated box that overlaps the whole-person box from another window by
far less than an NMS threshold. Such a box (one that touches an inner crop border) is dropped when half
of the smaller of the two boxes lies in the other; two boxes that touch no inner border merge by IoU,
or when one lies almost wholly inside the other (the same person boxed whole by one window and from the
waist up by another), so two people side by side stay two.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from agent.detections import Detections
from models.scoring import box_iou, box_overlaps

Window = tuple[int, int, int, int]
"""A crop of the frame in pixels: x0, y0, x1, y1 (exclusive ends)."""

RunWindow = Callable[[np.ndarray, float], Detections]
"""Detect on one image (a crop or the whole frame) at a score threshold; boxes in that image's pixels."""


@dataclass(frozen=True)
class TileGrid:
    """Which windows of a frame are run: the full frame (optional) and a grid of overlapping crops.

    Attributes:
        rows: Crops per column of the grid.
        cols: Crops per row of the grid.
        fraction: Each crop's width and height as a fraction of the frame's; neighbouring crops overlap
            by `fraction - (1 - fraction) / (n - 1)` of the frame when there are n of them in a line.
        full_frame: Also run the whole frame (finds people too big for one crop).
    """

    rows: int = 2
    cols: int = 2
    fraction: float = 0.6
    full_frame: bool = True

    def __post_init__(self) -> None:
        if self.rows < 1 or self.cols < 1:
            raise ValueError(f"tile grid needs at least 1 row and 1 column, got {self.rows}x{self.cols}")
        if not 0.0 < self.fraction <= 1.0:
            raise ValueError(f"tile fraction must be in (0, 1], got {self.fraction}")
        if self.fraction * max(self.rows, self.cols) < 1.0:
            raise ValueError(f"{self.rows}x{self.cols} tiles of {self.fraction} leave gaps: "
                             f"fraction must be at least 1/{max(self.rows, self.cols)}")

    @property
    def window_count(self) -> int:
        return self.rows * self.cols + int(self.full_frame)

    def windows(self, width: int, height: int) -> list[Window]:
        """The windows in pixels, full frame first."""
        found: list[Window] = [(0, 0, width, height)] if self.full_frame else []
        tile_w, tile_h = round(width * self.fraction), round(height * self.fraction)
        for y0 in _starts(height, tile_h, self.rows):
            for x0 in _starts(width, tile_w, self.cols):
                window = (x0, y0, x0 + tile_w, y0 + tile_h)
                if window not in found:
                    found.append(window)
        return found


def _starts(length: int, tile: int, count: int) -> list[int]:
    if count == 1:
        return [(length - tile) // 2]
    return [round(i * (length - tile) / (count - 1)) for i in range(count)]


@dataclass(frozen=True)
class TileMerge:
    """How boxes from several windows become one set (see the module docstring).

    Attributes:
        iou: Boxes of one class overlapping a kept box by at least this IoU are duplicates.
        containment: A truncated box and a kept box whose overlap covers this much of the smaller of the two
            are one object.
        nested: Any two boxes whose overlap covers this much of the smaller are one object.
        border_px: A box edge within this many pixels of an inner crop border counts as truncated.
    """

    iou: float = 0.5
    containment: float = 0.5
    nested: float = 0.85
    border_px: float = 3.0


def truncated(boxes: np.ndarray, window: Window, width: int, height: int, border_px: float) -> np.ndarray:
    """Which boxes (frame pixels) touch an edge of `window` that is not an edge of the frame."""
    x0, y0, x1, y1 = window
    near = np.zeros(len(boxes), bool)
    if x0 > 0:
        near |= boxes[:, 0] <= x0 + border_px
    if y0 > 0:
        near |= boxes[:, 1] <= y0 + border_px
    if x1 < width:
        near |= boxes[:, 2] >= x1 - border_px
    if y1 < height:
        near |= boxes[:, 3] >= y1 - border_px
    return near


def overlap_of_smaller(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)): the intersection of each pair as a fraction of the smaller box's area."""
    inter, area_a, area_b = box_overlaps(a, b)
    return inter / np.maximum(np.minimum(area_a[:, None], area_b[None, :]), 1e-9)


def merge(parts: Detections, cut: np.ndarray, rule: TileMerge) -> Detections:
    """One box per object from the windows' boxes (`cut`: which are truncated by an inner border).

    Whole boxes are kept before truncated ones, each group by score, so a person's whole box wins over
    the piece of it that a crop saw.
    """
    order = np.lexsort((-parts.confidence, cut))
    kept: list[int] = []
    for i in order:
        same = [k for k in kept if parts.class_id[k] == parts.class_id[i]]
        if same:
            box = parts.xyxy[i:i + 1]
            if (box_iou(box, parts.xyxy[same]) >= rule.iou).any():
                continue
            covered = overlap_of_smaller(box, parts.xyxy[same])
            if (covered >= rule.nested).any() or (cut[i] and (covered >= rule.containment).any()):
                continue
        kept.append(int(i))
    return parts[np.array(sorted(kept), dtype=np.int64)]


def detect_tiled(run: RunWindow, frame: np.ndarray, threshold: float, grid: TileGrid,
                 rule: TileMerge | None = None) -> tuple[Detections, float]:
    """Run every window of `grid` on `frame`; returns the merged detections and the seconds the merge took."""
    rule = rule or TileMerge()
    height, width = frame.shape[:2]
    boxes, scores, classes, cut = [], [], [], []
    for window in grid.windows(width, height):
        x0, y0, x1, y1 = window
        found = run(frame[y0:y1, x0:x1], threshold)
        shifted = found.xyxy + np.array([x0, y0, x0, y0], np.float32)
        boxes.append(shifted)
        scores.append(found.confidence)
        classes.append(found.class_id)
        cut.append(truncated(shifted, window, width, height, rule.border_px))
    started = time.perf_counter()
    parts = Detections(np.concatenate(boxes), np.concatenate(scores), np.concatenate(classes))
    merged = merge(parts, np.concatenate(cut), rule)
    return merged, time.perf_counter() - started
