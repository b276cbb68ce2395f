"""Detection metrics: VOC mAP@0.5 (all-point, `models.scoring`), COCO-style AP50 (faster-coco-eval), count MAE.

All functions take plain per-image arrays in pixels, so a PyTorch model and an IR are scored the same way.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass

import numpy as np

from models.scoring import average_precision, count_error, match_image


@dataclass
class ImageResult:
    """Ground truth and predictions of one image (pixels; labels are 1-based class ids)."""

    gt_boxes: np.ndarray
    gt_labels: np.ndarray
    gt_difficult: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    width: int
    height: int


def voc_ap(results: list[ImageResult], label: int, iou_threshold: float = 0.5) -> float:
    """VOC2010+ AP for one class (`models.scoring`'s matching and AP); NaN when the class has no objects."""
    scores, hits, positives = [], [], 0
    for r in results:
        truth, found = r.gt_labels == label, r.labels == label
        kept, hit = match_image(r.boxes[found], r.scores[found], r.gt_boxes[truth], r.gt_difficult[truth],
                                iou_threshold)
        scores.append(kept), hits.append(hit)
        positives += int((~r.gt_difficult[truth]).sum())
    ap = average_precision(np.concatenate(scores or [np.zeros(0)]), np.concatenate(hits or [np.zeros(0, bool)]),
                           positives)
    return float("nan") if ap is None else ap


def coco_ap50(results: list[ImageResult], labels: list[int]) -> float:
    """COCO-style AP at IoU 0.5 (101-point, area 'all', 100 detections) by faster-coco-eval."""
    from faster_coco_eval import COCO, COCOeval_faster

    images, annotations, detections = [], [], []
    for i, r in enumerate(results):
        images.append({"id": i, "width": r.width, "height": r.height})
        for box, lab, diff in zip(r.gt_boxes, r.gt_labels, r.gt_difficult, strict=True):
            x1, y1, x2, y2 = map(float, box)
            annotations.append({"id": len(annotations) + 1, "image_id": i, "category_id": int(lab),
                                "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1),
                                "iscrowd": int(diff)})
        for box, score, lab in zip(r.boxes, r.scores, r.labels, strict=True):
            x1, y1, x2, y2 = map(float, box)
            detections.append({"image_id": i, "category_id": int(lab), "bbox": [x1, y1, x2 - x1, y2 - y1],
                               "score": float(score)})
    if not detections:
        return 0.0
    gt = COCO()
    gt.dataset = {"images": images, "annotations": annotations,
                  "categories": [{"id": int(lab), "name": str(lab)} for lab in labels]}
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        dt = gt.loadRes(detections)
        evaluator = COCOeval_faster(gt, dt, "bbox", print_function=lambda *a: None)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return float(evaluator.stats[1])


def count_mae(results: list[ImageResult], threshold: float) -> float:
    """Mean |detections with score >= threshold - ground-truth boxes| per image."""
    errors = [count_error(r.scores, threshold, len(r.gt_boxes)) for r in results]
    return float(np.mean(errors)) if errors else float("nan")
