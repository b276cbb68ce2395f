"""Anchors, box coding, matching, loss and decoding/NMS of the shared SSD core."""

from __future__ import annotations

import pytest
import torch

from pruning.ssd import anchors as anchor_gen
from pruning.ssd.anchors import AnchorConfig, center_to_corners
from pruning.ssd.box_coding import decode, encode
from pruning.ssd.loss import multibox_loss
from pruning.ssd.matching import iou, match
from pruning.ssd.postprocess import PostprocessConfig, nms, postprocess

SIZES = [(8, 8), (4, 4), (2, 2), (1, 1)]


def test_anchor_count_layout_and_range() -> None:
    config = AnchorConfig()
    anchors = anchor_gen.generate(config, SIZES)
    per_cell = anchor_gen.anchors_per_cell(config, len(SIZES))
    assert per_cell == [3, 6, 6, 6]
    assert anchors.shape == (sum(h * w * a for (h, w), a in zip(SIZES, per_cell, strict=True)), 4)
    corners = center_to_corners(anchors)
    assert corners.min() >= 0 and corners.max() <= 1
    # first cell of the first map: centred at half a cell
    assert torch.allclose(anchors[0, :2], torch.tensor([1 / 16, 1 / 16]))


def test_scales_grow_linearly() -> None:
    scales = AnchorConfig(min_scale=0.2, max_scale=0.9).scales(6)
    assert scales[0] == pytest.approx(0.2) and scales[5] == pytest.approx(0.9)
    assert all(b > a for a, b in zip(scales, scales[1:], strict=False))


def test_encode_decode_round_trip() -> None:
    anchors = anchor_gen.generate(AnchorConfig(), SIZES)
    gen = torch.Generator().manual_seed(0)
    xy = torch.rand(len(anchors), 2, generator=gen) * 0.6
    gt = torch.cat([xy, xy + 0.05 + torch.rand(len(anchors), 2, generator=gen) * 0.3], dim=1)
    assert torch.allclose(decode(encode(gt, anchors), anchors), gt, atol=1e-5)


def test_matching_gives_every_truth_its_best_anchor() -> None:
    anchors = anchor_gen.generate(AnchorConfig(), SIZES)
    gt = torch.tensor([[0.1, 0.1, 0.2, 0.3], [0.5, 0.4, 0.9, 0.95], [0.0, 0.0, 0.01, 0.01]])
    labels = torch.tensor([1, 2, 1])
    loc_t, labels_t = match(gt, labels, anchors)
    best = iou(gt, center_to_corners(anchors)).argmax(dim=1)
    assert labels_t[best].tolist() == [1, 2, 1]  # even the tiny one, below the IoU threshold
    positives = labels_t > 0
    assert positives.sum() >= 3
    decoded = decode(loc_t[best], anchors[best])
    assert torch.allclose(decoded, gt, atol=1e-5)
    empty_loc, empty_labels = match(torch.zeros(0, 4), torch.zeros(0, dtype=torch.long), anchors)
    assert empty_labels.sum() == 0 and empty_loc.shape == (len(anchors), 4)


def test_hard_negative_mining_keeps_three_negatives_per_positive() -> None:
    num = 100
    labels = torch.zeros(1, num, dtype=torch.long)
    labels[0, :2] = 1
    conf = torch.zeros(1, num, 2)
    conf[0, 2:12, 1] = 5.0  # ten confident false positives: the 6 hardest are mined
    loc = torch.zeros(1, num, 4)
    parts = multibox_loss(loc, conf, torch.zeros(1, num, 4), labels)
    ce_fp = torch.nn.functional.cross_entropy(torch.tensor([[0.0, 5.0]]), torch.tensor([0])).item()
    ce_pos = torch.nn.functional.cross_entropy(torch.tensor([[0.0, 0.0]]), torch.tensor([1])).item()
    assert parts.conf.item() == pytest.approx((6 * ce_fp + 2 * ce_pos) / 2, rel=1e-5)
    assert parts.loc.item() == 0.0


def test_nms_and_postprocess() -> None:
    boxes = torch.tensor([[0, 0, 1, 1], [0, 0, 1, 0.95], [2, 2, 3, 3]], dtype=torch.float32)
    assert nms(boxes, torch.tensor([0.9, 0.8, 0.7]), 0.5).tolist() == [0, 2]
    anchors = anchor_gen.generate(AnchorConfig(), SIZES)
    conf = torch.full((1, len(anchors), 2), -5.0)
    conf[0, :, 0] = 5.0
    conf[0, 10, 1] = 10.0
    [det] = postprocess(torch.zeros(1, len(anchors), 4), conf, anchors, PostprocessConfig())
    assert det.labels.tolist() == [1]
    assert torch.allclose(det.boxes[0], center_to_corners(anchors[10]))
