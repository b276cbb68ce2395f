"""Hand labels: the file's schema, its errors, and scoring counts and crossings against it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from models.labels import (
    CrossingLabel,
    FrameCountLabel,
    LabelsError,
    load_labels,
    range_error,
    score_counts,
    score_crossings,
)

LABELS = Path(__file__).resolve().parents[1] / "data" / "labels" / "vtest" / "labels.json"


def minimal(**changes: object) -> dict:
    labels = {"video": "clip.avi", "frame_count": 100, "frame_size": [160, 120], "rule": "half the body visible",
              "test_from_frame": 70, "counts": [{"frame": 0, "count": 2, "min": 2, "max": 3}],
              "crossings": [{"frame": 80, "direction": "in"}]}
    labels.update(changes)
    return labels


def test_the_committed_vtest_labels_load() -> None:
    if not LABELS.is_file():
        pytest.skip("hand labels not committed yet")
    labels = load_labels(LABELS)
    assert len(labels.counts) >= 60 and labels.frame_size == (768, 576)
    assert labels.part("test").counts and all(c.frame >= labels.test_from_frame for c in labels.part("test").counts)


@pytest.mark.parametrize(("content", "problem"), [
    ("{not json", "not valid JSON"),
    (json.dumps(minimal(counts=[{"frame": 0, "count": 5, "min": 2, "max": 3}])), "min <= count <= max"),
    (json.dumps(minimal(crossings=[{"frame": 5, "direction": "up"}])), "crossings.0.direction"),
    (json.dumps(minimal(counts=[{"frame": 500, "count": 1, "min": 1, "max": 1}])), "beyond the clip"),
    (json.dumps(minimal(extra=1)), "extra"),
])
def test_a_bad_label_file_names_the_problem(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "labels.json"
    path.write_text(content)
    with pytest.raises(LabelsError, match="labels.json") as error:
        load_labels(path)
    assert problem in str(error.value)


def test_a_missing_label_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(LabelsError, match="not found"):
        load_labels(tmp_path / "nope.json")


@pytest.mark.parametrize(("predicted", "error"), [(1, 1), (2, 0), (3, 0), (5, 2)])
def test_range_error_is_zero_inside_the_doubtful_range(predicted: int, error: int) -> None:
    assert range_error(predicted, FrameCountLabel(frame=0, count=2, min=2, max=3)) == error


def test_score_counts_uses_only_predicted_labelled_frames() -> None:
    labels = [FrameCountLabel(frame=0, count=2, min=2, max=2), FrameCountLabel(frame=10, count=4, min=3, max=4),
              FrameCountLabel(frame=20, count=1, min=1, max=1)]
    score = score_counts({0: 3, 10: 3, 99: 7}, labels)
    assert (score.frames, score.mae, score.mae_best) == (2, 0.5, 1.0)


@pytest.mark.parametrize(("counted", "recall", "recall_sure", "precision"), [
    ([(100, "in")], 0.5, 1.0, 1.0),  # the doubtful one missed: not held against the count
    ([(100, "in"), (200, "out")], 1.0, 1.0, 1.0),  # counted: a match, not spurious
    ([(200, "out")], 0.5, 0.0, 1.0),
])
def test_a_doubtful_crossing_counts_either_way(counted: list[tuple[int, str]], recall: float, recall_sure: float,
                                               precision: float) -> None:
    labels = [CrossingLabel(frame=100, direction="in"), CrossingLabel(frame=200, direction="out", doubtful=True)]
    score = score_crossings(counted, labels)
    assert (score.recall, score.recall_sure, score.precision) == (recall, recall_sure, precision)
    assert score.doubtful == 1 and score.doubtful_missed == (() if (200, "out") in counted else (200,))


def test_crossings_match_one_to_one_by_direction_within_tolerance() -> None:
    labels = [CrossingLabel(frame=100, direction="in"), CrossingLabel(frame=104, direction="in"),
              CrossingLabel(frame=300, direction="out")]
    counted = [(101, "in"), (102, "in"), (103, "in"), (300, "in"), (500, "out")]
    score = score_crossings(counted, labels, tolerance=10)
    assert (score.labelled, score.counted, score.matched) == (3, 5, 2)
    assert score.recall == pytest.approx(2 / 3) and score.precision == pytest.approx(2 / 5)
    assert score.missed == (300,)
    assert score.spurious == ((102, "in"), (300, "in"), (500, "out"))
