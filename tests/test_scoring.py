"""models.scoring: box IoU, VOC matching, AP and count error on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from models.scoring import average_precision, box_iou, count_error, match_image


def test_box_iou() -> None:
    a = np.array([[0, 0, 10, 10]], np.float32)
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30], [3, 3, 3, 3]], np.float32)
    assert box_iou(a, b) == pytest.approx(np.array([[1.0, 1 / 3, 0.0, 0.0]]), abs=1e-6)
    assert box_iou(a, np.zeros((0, 4))).shape == (1, 0)


@pytest.mark.parametrize(
    ("scores", "hits", "positives", "expected"),
    [([0.9, 0.8], [True, True], 2, 1.0),
     ([0.9, 0.8], [True, False], 2, 0.5),
     ([0.9, 0.8, 0.7], [False, True, True], 2, 2 / 3),  # all-point: precision 2/3 carried back to recall 0.5
     ([0.9], [True], 4, 0.25),
     ([0.7, 0.9], [True, False], 1, 0.5),  # sorted by score first: the miss ranks above the hit
     ([], [], 0, None)],
)
def test_average_precision(scores: list[float], hits: list[bool], positives: int, expected: float | None) -> None:
    ap = average_precision(np.asarray(scores, float), np.asarray(hits, bool), positives)
    assert ap == (None if expected is None else pytest.approx(expected))


def test_match_image_follows_voc_rules() -> None:
    truth = np.array([[0, 0, 10, 10], [50, 50, 60, 60]], np.float32)
    difficult = np.array([False, True])
    boxes = np.array([[0, 0, 10, 9],  # hit, but ranked second: the duplicate above takes the truth
                      [0, 0, 10, 10],  # hit
                      [50, 50, 60, 60],  # on a difficult object: dropped
                      [30, 30, 40, 40]], np.float32)  # on nothing: false positive
    scores, hits = match_image(boxes, np.array([0.6, 0.9, 0.8, 0.7]), truth, difficult)
    assert scores.tolist() == [0.9, 0.7, 0.6]
    assert hits.tolist() == [True, False, False]


def test_match_image_without_truth_or_detections() -> None:
    scores, hits = match_image(np.array([[0, 0, 1, 1]], np.float32), np.array([0.5]), np.zeros((0, 4)),
                               np.zeros(0, bool))
    assert (scores.tolist(), hits.tolist()) == ([0.5], [False])
    scores, hits = match_image(np.zeros((0, 4)), np.zeros(0), np.array([[0, 0, 1, 1]]), np.array([False]))
    assert (len(scores), len(hits)) == (0, 0)


@pytest.mark.parametrize(("threshold", "truth", "expected"), [(0.5, 2, 0), (0.5, 4, 2), (0.95, 1, 1), (0.1, 0, 3)])
def test_count_error(threshold: float, truth: int, expected: int) -> None:
    assert count_error(np.array([0.9, 0.6, 0.3]), threshold, truth) == expected
