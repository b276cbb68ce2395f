"""Decoding and per-class NMS for evaluation: the same semantics as OpenVINO's DetectionOutput."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from pruning.ssd.box_coding import decode
from pruning.ssd.matching import iou


@dataclass(frozen=True)
class PostprocessConfig:
    """Mirrors the DetectionOutput attributes written into the IR."""

    confidence_threshold: float = 0.01
    nms_threshold: float = 0.45
    top_k: int = 400
    keep_top_k: int = 200


@dataclass
class ImageDetections:
    """Detections of one image: normalised corner boxes, scores and 1-based labels."""

    boxes: torch.Tensor
    scores: torch.Tensor
    labels: torch.Tensor


def nms(boxes: torch.Tensor, scores: torch.Tensor, threshold: float) -> torch.Tensor:
    """Indices kept by greedy NMS, by descending score."""
    order = scores.argsort(descending=True)
    keep = []
    suppressed = torch.zeros(len(order), dtype=torch.bool)
    ious = iou(boxes[order], boxes[order])
    for i in range(len(order)):
        if suppressed[i]:
            continue
        keep.append(order[i])
        suppressed |= ious[i] > threshold
    return torch.stack(keep) if keep else torch.zeros(0, dtype=torch.long)


def postprocess(loc: torch.Tensor, conf: torch.Tensor, anchors: torch.Tensor,
                config: PostprocessConfig | None = None) -> list[ImageDetections]:
    """Detections per image from raw head outputs (B, P, 4) and logits (B, P, C)."""
    config = config or PostprocessConfig()
    probs = conf.softmax(dim=-1)
    boxes = decode(loc, anchors)
    results = []
    for b in range(loc.shape[0]):
        parts: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        for c in range(1, probs.shape[-1]):
            scores = probs[b, :, c]
            idx = (scores > config.confidence_threshold).nonzero().flatten()
            idx = idx[scores[idx].argsort(descending=True)[: config.top_k]]
            kept = idx[nms(boxes[b, idx], scores[idx], config.nms_threshold)]
            parts.append((boxes[b, kept], scores[kept], torch.full((len(kept),), c, dtype=torch.long)))
        all_boxes = torch.cat([p[0] for p in parts])
        all_scores = torch.cat([p[1] for p in parts])
        all_labels = torch.cat([p[2] for p in parts])
        order = all_scores.argsort(descending=True)[: config.keep_top_k]
        results.append(ImageDetections(all_boxes[order], all_scores[order], all_labels[order]))
    return results
