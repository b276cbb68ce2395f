"""Tiled inference: windows cover the frame, and the merge counts a person cut by a crop border once."""

from __future__ import annotations

import numpy as np
import pytest

from agent.detections import Detections
from agent.tiling import TileGrid, TileMerge, detect_tiled, merge, truncated


def test_windows_cover_the_frame_with_overlap() -> None:
    windows = TileGrid(2, 2, 0.6).windows(800, 600)
    assert windows[0] == (0, 0, 800, 600)
    assert windows[1:] == [(0, 0, 480, 360), (320, 0, 800, 360), (0, 240, 480, 600), (320, 240, 800, 600)]


@pytest.mark.parametrize(("rows", "cols", "fraction"), [(2, 2, 0.4), (0, 2, 0.6), (3, 1, 0.3), (1, 1, 0.0)])
def test_a_grid_with_gaps_is_refused(rows: int, cols: int, fraction: float) -> None:
    with pytest.raises(ValueError):
        TileGrid(rows, cols, fraction)


def test_truncated_marks_only_inner_borders() -> None:
    boxes = np.array([[0, 10, 50, 100], [430, 10, 480, 100], [100, 100, 200, 200]], np.float32)
    cut = truncated(boxes, (0, 0, 480, 360), 800, 600, border_px=3)
    assert cut.tolist() == [False, True, False]  # x=0 is the frame's edge; x=480 is an inner border


def _dets(boxes: list[list[float]], scores: list[float]) -> Detections:
    return Detections(np.array(boxes, np.float32), np.array(scores, np.float32), np.ones(len(boxes)))


def test_a_person_cut_by_a_border_counts_once() -> None:
    whole = [400, 100, 460, 260]
    piece = [400, 100, 480, 180]  # the upper part, seen by a crop that ends at x=480... and y=180
    parts = _dets([whole, piece], [0.6, 0.9])
    merged = merge(parts, np.array([False, True]), TileMerge())
    assert len(merged) == 1 and merged.xyxy[0].tolist() == whole


def test_two_people_side_by_side_stay_two() -> None:
    parts = _dets([[100, 100, 140, 200], [130, 100, 170, 200]], [0.9, 0.8])  # IoU 0.14
    assert len(merge(parts, np.array([False, False]), TileMerge())) == 2


def test_duplicates_of_one_person_merge_by_iou() -> None:
    parts = _dets([[100, 100, 140, 200], [102, 101, 141, 203]], [0.7, 0.9])
    merged = merge(parts, np.array([False, False]), TileMerge())
    assert len(merged) == 1 and merged.confidence[0] == pytest.approx(0.9)


def test_detect_tiled_shifts_crop_boxes_into_the_frame() -> None:
    """A stand-in detector that finds one fixed square per image: every window's box lands where it was."""
    frame = np.zeros((600, 800, 3), np.uint8)
    seen: list[tuple[int, int]] = []

    def run(image: np.ndarray, threshold: float) -> Detections:
        seen.append(image.shape[:2])
        return _dets([[10, 10, 30, 50]], [0.9])

    merged, merge_s = detect_tiled(run, frame, 0.5, TileGrid(2, 2, 0.6))
    assert seen == [(600, 800)] + [(360, 480)] * 4
    starts = sorted(tuple(box[:2]) for box in merged.xyxy.tolist())
    assert starts == [(10, 10), (10, 250), (330, 10), (330, 250)]  # the full frame's box merges with the first crop's
    assert merge_s >= 0


def test_a_person_boxed_whole_and_from_the_waist_up_counts_once() -> None:
    parts = _dets([[406, 151, 427, 200], [398, 153, 436, 244]], [0.8, 0.3])  # IoU 0.28, the small one 96 % inside
    assert len(merge(parts, np.array([False, False]), TileMerge())) == 1
