"""Autolabel: the real teacher on a short clip into a VOC dataset, and the temporal-consistency rule."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from agent.detector import Detector
from models.scoring import load_dataset
from models.store import ModelStore
from pruning.data.autolabel import FrameBoxes, LabelPolicy, autolabel, select


def test_autolabel_short_clip_with_the_teacher(store: ModelStore, sample_video: Path, tmp_path: Path) -> None:
    teacher = Detector.open(store.load("person-ssdlite", "1"))
    splits = autolabel(teacher, sample_video, tmp_path, LabelPolicy(high=0.5, low=0.3), stride=40,
                       train_fraction=0.7, limit=5, provenance={"teacher": "person-ssdlite@1"})
    assert splits["train"] == ["vtest_000000", "vtest_000040", "vtest_000080", "vtest_000120"]
    assert splits["test"] == ["vtest_000160"]
    annotations = load_dataset(tmp_path, "all", {"person": 1})
    assert sum(len(a.boxes) for a in annotations) > 0
    assert all(a.image.is_file() and (a.width, a.height) == (768, 576) for a in annotations)
    record = json.loads((tmp_path / "autolabel.json").read_text())
    assert record["teacher"] == "person-ssdlite@1" and record["stride"] == 40
    assert record["policy"]["low"] == 0.3 and len(record["raw"]) == 5


def _frame(index: int, boxes: list[list[float]], scores: list[float]) -> FrameBoxes:
    return FrameBoxes(index, np.array(boxes, np.float32).reshape(-1, 4), np.array(scores, np.float32))


def test_temporal_rule_keeps_confirmed_low_scores_only() -> None:
    person, ghost, dup = [10, 10, 50, 100], [200, 200, 240, 290], [12, 10, 52, 100]
    frames = [
        _frame(0, [person], [0.35]),
        _frame(1, [person, ghost, dup], [0.4, 0.35, 0.3]),  # ghost seen once; dup duplicates person
        _frame(2, [], []),
        _frame(3, [ghost], [0.9]),  # certain: kept without confirmation
    ]
    kept = select(frames, LabelPolicy(high=0.5, low=0.3, window=1))
    assert [len(k) for k in kept] == [1, 1, 0, 1]
    np.testing.assert_allclose(kept[1][0], person)
    plain = select(frames, LabelPolicy(high=0.5, low=0.5))
    assert [len(k) for k in plain] == [0, 0, 0, 1]
