"""The bench's accuracy: AP@0.5 and count MAE through a detector, exact on hand-made annotations."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from agent.bench.accuracy import DatasetError, evaluate
from agent.detections import Detections


def voc_xml(filename: str, objects: list[tuple[str, tuple[int, int, int, int], bool]]) -> str:
    body = "".join(
        f"<object><name>{name}</name><difficult>{int(hard)}</difficult><bndbox><xmin>{b[0]}</xmin>"
        f"<ymin>{b[1]}</ymin><xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox></object>"
        for name, b, hard in objects)
    size = "<size><width>100</width><height>100</height><depth>3</depth></size>"
    return f"<annotation><filename>{filename}</filename>{size}{body}</annotation>"


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    (tmp_path / "Annotations").mkdir()
    (tmp_path / "JPEGImages").mkdir()
    truth = {"a": [("person", (10, 10, 50, 90), False), ("dog", (60, 10, 90, 40), False)],
             "b": [("person", (10, 10, 40, 40), False), ("person", (50, 50, 90, 90), True)]}
    for image_id, objects in truth.items():
        (tmp_path / "Annotations" / f"{image_id}.xml").write_text(voc_xml(f"{image_id}.jpg", objects))
        cv2.imwrite(str(tmp_path / "JPEGImages" / f"{image_id}.jpg"), np.zeros((100, 100, 3), np.uint8))
    return tmp_path


class StubDetector:
    """Returns fixed detections per image (by call order); the metric is under test, not the network."""

    def __init__(self, per_image: list[Detections]) -> None:
        self.manifest = SimpleNamespace(ref="stub@1", label_id=lambda label: 1 if label == "person" else None)
        self.per_image = iter(per_image)

    def infer(self, frame: np.ndarray, score_threshold: float) -> Detections:
        found = next(self.per_image)
        return found[found.confidence >= score_threshold]


def test_evaluate_map_and_count_mae(dataset: Path) -> None:
    detections = [
        Detections([[12, 10, 50, 88], [0, 0, 5, 5]], [0.9, 0.3], [1, 1]),  # a: hit, low-score false positive
        Detections([[10, 10, 40, 40], [50, 50, 90, 90], [60, 60, 70, 70]], [0.8, 0.95, 0.6], [1, 1, 2]),
    ]
    acc = evaluate(StubDetector(detections), dataset, "person", count_threshold=0.5)
    assert acc.images == 2
    assert acc.map50 == pytest.approx(1.0)  # the false positive ranks below both hits; difficult ignored
    # counts at 0.5: a -> 1 person (truth 1); b -> 2 persons (truth 1 non-difficult)
    assert acc.count_mae == pytest.approx(0.5)


def test_missing_annotations_dir(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no Annotations/ directory"):
        evaluate(StubDetector([]), tmp_path, "person", 0.5)
