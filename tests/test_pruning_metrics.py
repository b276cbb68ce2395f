"""Metrics: VOC AP on hand-made cases, checked against faster-coco-eval's AP50; count MAE."""

from __future__ import annotations

import numpy as np
import pytest

from pruning.metrics import ImageResult, coco_ap50, count_mae, voc_ap


def _result(gt: list, dets: list, scores: list) -> ImageResult:
    gt_a = np.array(gt, np.float32).reshape(-1, 4)
    d = np.array(dets, np.float32).reshape(-1, 4)
    return ImageResult(gt_a, np.ones(len(gt_a), np.int64), np.zeros(len(gt_a), bool), d,
                       np.array(scores, np.float32), np.ones(len(d), np.int64), 640, 480)


def test_perfect_and_hand_computed_ap() -> None:
    a, b = [10, 10, 60, 110], [200, 200, 260, 300]
    assert voc_ap([_result([a, b], [a, b], [0.9, 0.8])], 1) == pytest.approx(1.0)
    # a false positive ranked between two hits: precision 1, 1/2, 2/3 at recalls 1/2, 1/2, 1
    results = [_result([a, b], [a, [400, 400, 450, 450], b], [0.9, 0.8, 0.7])]
    assert voc_ap(results, 1) == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    assert count_mae(results, 0.75) == 0.0 and count_mae(results, 0.5) == 1.0


def test_voc_ap_agrees_with_faster_coco_eval() -> None:
    rng = np.random.default_rng(0)
    results = []
    for _ in range(20):
        gt = rng.uniform(0, 400, (5, 2))
        gt = np.concatenate([gt, gt + rng.uniform(30, 120, (5, 2))], axis=1)
        dets = gt + rng.normal(0, 8, gt.shape)
        extra = rng.uniform(0, 400, (2, 2))
        dets = np.concatenate([dets, np.concatenate([extra, extra + 50], axis=1)])
        results.append(_result(gt.tolist(), dets.tolist(), rng.uniform(0.1, 1, len(dets)).tolist()))
    ours, coco = voc_ap(results, 1), coco_ap50(results, [1])
    assert 0.3 < ours < 1.0
    assert ours == pytest.approx(coco, abs=0.02)  # 101-point vs all-point interpolation
