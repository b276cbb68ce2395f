"""Synthetic door scenes: deterministic by seed, exact boxes and in/out totals."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from models.scoring import load_dataset
from pruning.data.synth import Person, Scene, crossings, generate_images, generate_video


def test_images_are_deterministic_by_seed(tmp_path: Path) -> None:
    a, b, c = (generate_images(tmp_path / name, count=4, seed=seed) for name, seed in
               (("a", 7), ("b", 7), ("c", 8)))
    assert a["all"] == b["all"]
    for image_id in a["all"]:
        assert (tmp_path / "a" / "JPEGImages" / f"{image_id}.jpg").read_bytes() == \
            (tmp_path / "b" / "JPEGImages" / f"{image_id}.jpg").read_bytes()
    img_a = cv2.imread(str(tmp_path / "a" / "JPEGImages" / f"{a['all'][0]}.jpg"))
    img_c = cv2.imread(str(tmp_path / "c" / "JPEGImages" / f"{c['all'][0]}.jpg"))
    assert not np.array_equal(img_a, img_c)
    annotations = load_dataset(tmp_path / "a", "all", {"head": 1})
    assert all(len(ann.boxes) >= 1 for ann in annotations)
    assert len(a["train"]) == 3 and len(a["test"]) == 1


def test_video_truth_is_deterministic_and_consistent(tmp_path: Path) -> None:
    one = generate_video(tmp_path / "one.avi", frames=40, people=4, seed=5)
    two = generate_video(tmp_path / "two.avi", frames=40, people=4, seed=5)
    assert one == two
    assert json.loads((tmp_path / "one.json").read_text()) == one
    assert one["in"] + one["out"] <= 4  # each walk crosses the line at most once
    capture = cv2.VideoCapture(str(tmp_path / "one.avi"))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 40
    capture.release()
    assert len(one["boxes"]) == 40


@pytest.mark.parametrize(("ys", "expected"), [
    ([10, 50, 100], (1, 0)),
    ([100, 50, 10], (0, 1)),
    ([10, 100, 10], (1, 1)),
    ([10, 20, 30], (0, 0)),
])
def test_crossings_count_direction(ys: list[float], expected: tuple[int, int]) -> None:
    path = np.stack([np.zeros(len(ys)), np.array(ys, float)], axis=1)
    person = Person(path, 10, (0, 0, 0), (0, 0, 0))
    assert crossings([person], Scene().line_y) == expected
