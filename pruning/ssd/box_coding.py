"""SSD box coding with Caffe-style variances, the coding OpenVINO's DetectionOutput decodes.

Offsets: ((gx - ax) / aw / v0, (gy - ay) / ah / v0, log(gw / aw) / v1, log(gh / ah) / v1).
"""

from __future__ import annotations

import torch

from pruning.ssd.anchors import center_to_corners, corners_to_center

VARIANCES = (0.1, 0.2)


def encode(gt_corners: torch.Tensor, anchors: torch.Tensor, variances: tuple[float, float] = VARIANCES
           ) -> torch.Tensor:
    """Regression targets (P, 4) for ground truth boxes (P, 4, corners) matched to anchors (P, 4, centre)."""
    gt = corners_to_center(gt_corners)
    wh = (gt[:, 2:] / anchors[:, 2:]).clamp(min=1e-6)
    return torch.cat([(gt[:, :2] - anchors[:, :2]) / anchors[:, 2:] / variances[0],
                      torch.log(wh) / variances[1]], dim=1)


def decode(offsets: torch.Tensor, anchors: torch.Tensor, variances: tuple[float, float] = VARIANCES
           ) -> torch.Tensor:
    """Corner boxes (..., P, 4) from offsets (..., P, 4) and anchors (P, 4, centre)."""
    cxcy = anchors[:, :2] + offsets[..., :2] * variances[0] * anchors[:, 2:]
    wh = anchors[:, 2:] * torch.exp(offsets[..., 2:] * variances[1])
    return center_to_corners(torch.cat([cxcy, wh], dim=-1))
