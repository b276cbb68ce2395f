"""Detection metrics: VOC mAP@0.5 (all-point interpolation), COCO-style AP50 (faster-coco-eval), count MAE.

All functions take plain per-image arrays in pixels, so a PyTorch model and an IR are scored the same way.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass

import numpy as np


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


def _iou_one(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    lt = np.maximum(box[:2], boxes[:, :2])
    rb = np.minimum(box[2:], boxes[:, 2:])
    inter = np.clip(rb - lt, 0, None).prod(axis=1)
    area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])  # noqa: E731
    return inter / np.maximum(area(box) + area(boxes) - inter, 1e-9)


def voc_ap(results: list[ImageResult], label: int, iou_threshold: float = 0.5) -> float:
    """VOC2010+ AP for one class: all-point interpolated precision/recall area; difficult boxes ignored."""
    npos = sum(int(((r.gt_labels == label) & ~r.gt_difficult).sum()) for r in results)
    dets = [(s, i, b) for i, r in enumerate(results) for b, s, lab in zip(r.boxes, r.scores, r.labels, strict=True)
            if lab == label]
    dets.sort(key=lambda d: -d[0])
    used = [np.zeros(int((r.gt_labels == label).sum()), bool) for r in results]
    tp, fp = np.zeros(len(dets)), np.zeros(len(dets))
    for k, (_, i, box) in enumerate(dets):
        mask = results[i].gt_labels == label
        gts, difficult = results[i].gt_boxes[mask], results[i].gt_difficult[mask]
        if len(gts) == 0:
            fp[k] = 1
            continue
        overlaps = _iou_one(box, gts)
        j = int(overlaps.argmax())
        if overlaps[j] < iou_threshold:
            fp[k] = 1
        elif difficult[j]:
            continue
        elif not used[i][j]:
            tp[k], used[i][j] = 1, True
        else:
            fp[k] = 1
    if npos == 0:
        return float("nan")
    tp, fp = np.cumsum(tp), np.cumsum(fp)
    recall = tp / npos
    precision = tp / np.maximum(tp + fp, 1e-9)
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[0.0], precision, [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    idx = np.where(mrec[1:] != mrec[:-1])[0]
    return float(((mrec[idx + 1] - mrec[idx]) * mpre[idx + 1]).sum())


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
    errors = [abs(int((r.scores >= threshold).sum()) - len(r.gt_boxes)) for r in results]
    return float(np.mean(errors)) if errors else float("nan")
