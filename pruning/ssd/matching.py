"""Anchor-to-ground-truth matching: each truth takes its best anchor, then every anchor with IoU >= t."""

from __future__ import annotations

import torch

from pruning.ssd.anchors import center_to_corners
from pruning.ssd.box_coding import encode


def iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pairwise IoU (len(a), len(b)) of corner boxes, in torch.

    The numpy `models.scoring.box_iou` scores detections; this one stays torch because it runs inside
    training on tensors: anchor matching for every sample the data loader yields (feeding torch
    `encode`) and the NMS of `pruning.ssd.postprocess`, on whatever device the tensors live. A round
    trip through numpy there would copy thousands of anchors per sample and leave the GPU.
    """
    lt = torch.maximum(a[:, None, :2], b[None, :, :2])
    rb = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(dim=2)
    area_a = (a[:, 2:] - a[:, :2]).clamp(min=0).prod(dim=1)
    area_b = (b[:, 2:] - b[:, :2]).clamp(min=0).prod(dim=1)
    return inter / (area_a[:, None] + area_b[None, :] - inter).clamp(min=1e-9)


def match(gt_boxes: torch.Tensor, gt_labels: torch.Tensor, anchors: torch.Tensor, threshold: float = 0.5
          ) -> tuple[torch.Tensor, torch.Tensor]:
    """Targets for one image.

    Args:
        gt_boxes: (G, 4) normalised corners.
        gt_labels: (G,) class ids, 1-based (0 is background).
        anchors: (P, 4) centre form.
        threshold: IoU from which an anchor is positive.

    Returns:
        (P, 4) regression targets and (P,) labels, 0 for background.
    """
    num = anchors.shape[0]
    if gt_boxes.numel() == 0:
        return torch.zeros(num, 4), torch.zeros(num, dtype=torch.long)
    overlaps = iou(gt_boxes, center_to_corners(anchors))  # (G, P)
    best_gt_iou, best_gt = overlaps.max(dim=0)  # per anchor
    best_anchor = overlaps.argmax(dim=1)  # per truth
    # Every truth keeps its best anchor, even below the threshold.
    best_gt_iou[best_anchor] = 2.0
    best_gt[best_anchor] = torch.arange(gt_boxes.shape[0])
    labels = gt_labels[best_gt].clone()
    labels[best_gt_iou < threshold] = 0
    return encode(gt_boxes[best_gt], anchors), labels


def match_batch(boxes: list[torch.Tensor], labels: list[torch.Tensor], anchors: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """`match` for every image of a batch, stacked: (B, P, 4) regression targets and (B, P) labels."""
    targets = [match(b, lab, anchors) for b, lab in zip(boxes, labels, strict=True)]
    return torch.stack([t[0] for t in targets]), torch.stack([t[1] for t in targets])
