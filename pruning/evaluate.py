"""Evaluate a checkpoint or a store IR on a VOC split: mAP@0.5 (VOC, COCO AP50), count MAE, FLOPs, params.

IRs are run through the agent's own `Detector` (its preprocessing and decoding), so the figures are the
ones the device would get.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Protocol

import numpy as np
import torch
from tqdm import tqdm

from models.scoring import Annotation
from pruning.data.dataset import read_image
from pruning.data.transforms import to_tensor
from pruning.device import model_device
from pruning.metrics import ImageResult, coco_ap50, count_mae, voc_ap
from pruning.ssd.postprocess import PostprocessConfig, postprocess
from pruning.ssd.ssd import SSD

SCORE_FLOOR = 0.01
"""Detections kept for AP: low, so the precision/recall curve is complete."""


class Predictor(Protocol):
    def __call__(self, image_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(boxes (N,4) pixels, scores (N,), labels (N,)) in the dataset's class ids."""
        ...


class TorchPredictor:
    """A PyTorch SSD with its own decoding and NMS, on whatever device the model is (results on the CPU)."""

    def __init__(self, model: SSD, config: PostprocessConfig | None = None) -> None:
        self.model = model.eval()
        self.config = config or PostprocessConfig()

    @torch.no_grad()
    def __call__(self, image_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        h, w = image_bgr.shape[:2]
        image = to_tensor(image_bgr, tuple(self.model.input_size))[None].to(model_device(self.model))
        loc, conf = self.model(image)
        # Decoding and NMS on the CPU (postprocess builds its bookkeeping tensors there).
        det = postprocess(loc.cpu(), conf.cpu(), self.model.anchors.cpu(), self.config)[0]
        # Clipped to the image, as the agent's decoder does with the IR's boxes.
        boxes = det.boxes.clamp(0.0, 1.0).numpy() * np.array([w, h, w, h], np.float32)
        return boxes, det.scores.numpy(), det.labels.numpy()


class DetectorPredictor:
    """An agent `Detector` (store IR); class ids are mapped by label name to the dataset's ids."""

    def __init__(self, detector: object, class_map: dict[str, int], floor: float = SCORE_FLOOR) -> None:
        self.detector = detector
        labels = detector.manifest.labels  # type: ignore[attr-defined]
        self.id_map = {mid: class_map[name] for mid, name in labels.items() if name in class_map}
        self.floor = floor

    def __call__(self, image_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        det = self.detector.infer(image_bgr, self.floor)  # type: ignore[attr-defined]
        keep = np.array([int(c) in self.id_map for c in det.class_id], bool)
        labels = np.array([self.id_map[int(c)] for c in det.class_id[keep]], np.int64)
        return det.xyxy[keep], det.confidence[keep], labels


@dataclass
class EvalReport:
    images: int
    boxes: int
    map50: float
    ap50_per_class: dict[str, float]
    coco_ap50: float
    count_mae: float
    count_threshold: float
    flops: int | None = None
    params: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def predict_all(annotations: list[Annotation], predictor: Predictor, progress: bool = True
                ) -> list[ImageResult]:
    results = []
    for ann in tqdm(annotations, desc="eval", unit="img", disable=not progress, mininterval=5):
        boxes, scores, labels = predictor(read_image(str(ann.image)))
        results.append(ImageResult(ann.boxes, ann.labels, ann.difficult, np.asarray(boxes, np.float32),
                                   np.asarray(scores, np.float32), np.asarray(labels, np.int64),
                                   ann.width, ann.height))
    return results


def evaluate(annotations: list[Annotation], predictor: Predictor, labels: dict[int, str],
             count_threshold: float = 0.5, progress: bool = True) -> EvalReport:
    """Score `predictor` on `annotations` for the classes in `labels` (id -> name)."""
    results = predict_all(annotations, predictor, progress)
    per_class = {name: voc_ap(results, cid) for cid, name in labels.items()}
    valid = [v for v in per_class.values() if not np.isnan(v)]
    return EvalReport(
        images=len(results), boxes=int(sum(len(r.gt_boxes) for r in results)),
        map50=float(np.mean(valid)) if valid else float("nan"), ap50_per_class=per_class,
        coco_ap50=coco_ap50(results, list(labels)), count_mae=count_mae(results, count_threshold),
        count_threshold=count_threshold)
