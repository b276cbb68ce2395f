"""Accuracy on a Pascal VOC layout dataset with the agent's own decoding: AP@0.5 and count MAE.

Layout: `Annotations/<id>.xml`, `JPEGImages/<id>.jpg`, optionally `ImageSets/Main/test.txt` (else all
annotations). AP is VOC's: detections of all images sorted by score, greedy matching at IoU >= 0.5,
objects marked `difficult` neither matched nor counted as misses, all-point interpolated precision.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from agent.bench.results import Accuracy
from agent.detector import Detector


class DatasetError(ValueError):
    """The dataset is unusable; the message names the file and what is wrong."""


@dataclass
class Annotation:
    image: Path
    boxes: np.ndarray  # (N, 4) x1, y1, x2, y2 in pixels
    difficult: np.ndarray  # (N,) bool


def read_annotation(path: Path, label: str, images: Path) -> Annotation:
    """Boxes of `label` in one VOC XML file."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise DatasetError(f"{path}: not valid XML ({exc})") from exc
    boxes, difficult = [], []
    for obj in root.iter("object"):
        if (obj.findtext("name") or "").strip() != label:
            continue
        box = obj.find("bndbox")
        if box is None:
            raise DatasetError(f"{path}: object without bndbox")
        try:
            boxes.append([float(box.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax")])
        except (TypeError, ValueError) as exc:
            raise DatasetError(f"{path}: bndbox needs numeric xmin, ymin, xmax, ymax") from exc
        difficult.append((obj.findtext("difficult") or "0").strip() == "1")
    filename = root.findtext("filename") or f"{path.stem}.jpg"
    return Annotation(images / filename, np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(difficult, bool))


def image_ids(root: Path) -> list[str]:
    listing = root / "ImageSets" / "Main" / "test.txt"
    if listing.is_file():
        return [line.split()[0] for line in listing.read_text().splitlines() if line.strip()]
    return sorted(p.stem for p in (root / "Annotations").glob("*.xml"))


def iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    x1 = np.maximum(box[0], boxes[:, 0])
    y1 = np.maximum(box[1], boxes[:, 1])
    x2 = np.minimum(box[2], boxes[:, 2])
    y2 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1]) + (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area - inter, 1e-9)


def average_precision(scores: np.ndarray, hits: np.ndarray, positives: int) -> float | None:
    """VOC all-point interpolated AP from detections' scores and whether each was a true positive."""
    if positives == 0:
        return None
    order = np.argsort(-scores, kind="stable")
    tp = np.cumsum(hits[order])
    fp = np.cumsum(~hits[order])
    recall = np.concatenate([[0.0], tp / positives, [1.0]])
    precision = np.concatenate([[0.0], tp / np.maximum(tp + fp, 1e-9), [0.0]])
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    changed = np.where(recall[1:] != recall[:-1])[0]
    return float(np.sum((recall[changed + 1] - recall[changed]) * precision[changed + 1]))


def match(boxes: np.ndarray, scores: np.ndarray, truth: Annotation, threshold: float = 0.5
          ) -> tuple[np.ndarray, np.ndarray]:
    """(kept scores, hit flags) for one image; detections on difficult objects are dropped."""
    taken = np.zeros(len(truth.boxes), bool)
    kept, hits = [], []
    for i in np.argsort(-scores, kind="stable"):
        overlaps = iou(boxes[i], truth.boxes) if len(truth.boxes) else np.zeros(0)
        best = int(np.argmax(overlaps)) if len(overlaps) else -1
        if best >= 0 and overlaps[best] >= threshold:
            if truth.difficult[best]:
                continue
            if not taken[best]:
                taken[best] = True
                kept.append(scores[i]), hits.append(True)
                continue
        kept.append(scores[i]), hits.append(False)
    return np.asarray(kept, np.float64), np.asarray(hits, bool)


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
        truth = read_annotation(root / "Annotations" / f"{image_id}.xml", label, root / "JPEGImages")
        frame = cv2.imread(str(truth.image))
        if frame is None:
            raise DatasetError(f"{truth.image}: missing or not an image")
        found = detector.infer(frame, 0.01)
        found = found[found.class_id == class_id]
        scores, hits = match(found.xyxy, found.confidence, truth)
        all_scores.append(scores), all_hits.append(hits)
        positives += int((~truth.difficult).sum())
        errors.append(abs(int((found.confidence >= count_threshold).sum()) - int((~truth.difficult).sum())))
    ap = average_precision(np.concatenate(all_scores or [np.zeros(0)]), np.concatenate(all_hits or [np.zeros(0, bool)]),
                           positives)
    return Accuracy(dataset=str(root), label=label, images=len(errors), map50=None if ap is None else round(ap, 4),
                    count_mae=round(float(np.mean(errors)) if errors else 0.0, 4), score_threshold=count_threshold)
