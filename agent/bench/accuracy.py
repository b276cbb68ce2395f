"""Accuracy on a Pascal VOC layout dataset with the agent's own decoding: AP@0.5 and count MAE.

Layout: `Annotations/<id>.xml`, `JPEGImages/<id>.jpg`, optionally `ImageSets/Main/test.txt` (else all
annotations). Reading, matching and AP are `models.scoring`'s (VOC's rules, the same as the pruning
side's evaluation); the count error leaves `difficult` objects out of the truth.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from agent.detector import Detector
from models.bench import Accuracy
from models.scoring import DatasetError, average_precision, count_error, match_image, parse_annotation, read_split

__all__ = ["DatasetError", "evaluate", "image_ids"]


def image_ids(root: Path) -> list[str]:
    """The `test` split if the dataset lists one, else every annotation."""
    if (root / "ImageSets" / "Main" / "test.txt").is_file():
        return read_split(root, "test")
    return sorted(p.stem for p in (root / "Annotations").glob("*.xml"))


def evaluate(detector: Detector, root: Path, label: str, count_threshold: float, limit: int | None = None
             ) -> Accuracy:
    """AP@0.5 over detections down to score 0.01, count MAE at `count_threshold`."""
    root = Path(root)
    if not (root / "Annotations").is_dir():
        raise DatasetError(f"{root}: no Annotations/ directory (Pascal VOC layout expected)")
    class_id = detector.manifest.label_id(label)
    if class_id is None:
        raise DatasetError(f"model {detector.manifest.ref} has no label {label!r}")
    all_scores, all_hits, positives, errors = [], [], 0, []
    for image_id in image_ids(root)[:limit]:
        truth = parse_annotation(root / "Annotations" / f"{image_id}.xml", {label: 1}, root / "JPEGImages")
        frame = cv2.imread(str(truth.image))
        if frame is None:
            raise DatasetError(f"{truth.image}: missing or not an image")
        found = detector.infer(frame, 0.01)
        found = found[found.class_id == class_id]
        scores, hits = match_image(found.xyxy, found.confidence, truth.boxes, truth.difficult)
        all_scores.append(scores), all_hits.append(hits)
        objects = int((~truth.difficult).sum())
        positives += objects
        errors.append(count_error(found.confidence, count_threshold, objects))
    ap = average_precision(np.concatenate(all_scores or [np.zeros(0)]), np.concatenate(all_hits or [np.zeros(0, bool)]),
                           positives)
    return Accuracy(dataset=str(root), label=label, images=len(errors), map50=None if ap is None else round(ap, 4),
                    count_mae=round(float(np.mean(errors)) if errors else 0.0, 4), score_threshold=count_threshold)
