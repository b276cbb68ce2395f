"""Training augmentation (photometric, expand, SSD crop, flip) and the network's preprocessing.

Images are BGR u8 HWC as OpenCV reads them; boxes are pixels (x1, y1, x2, y2). `to_tensor` resizes,
converts to RGB and applies the paper's (x - 127.5) * 0.007843, which the manifest declares.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

MEAN = 127.5
SCALE = 0.007843
CROP_MIN_IOUS = (None, 0.1, 0.3, 0.5, 0.7)


def photometric(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random brightness, contrast and saturation, each applied with probability 1/2."""
    out = image.astype(np.float32)
    if rng.random() < 0.5:
        out += rng.uniform(-32, 32)
    if rng.random() < 0.5:
        out *= rng.uniform(0.6, 1.4)
    if rng.random() < 0.5:
        gray = out.mean(axis=2, keepdims=True)
        out = gray + (out - gray) * rng.uniform(0.6, 1.4)
    return np.clip(out, 0, 255).astype(np.uint8)


def expand(image: np.ndarray, boxes: np.ndarray, rng: np.random.Generator, max_ratio: float = 2.0
           ) -> tuple[np.ndarray, np.ndarray]:
    """Place the image on a larger grey canvas (zoom out): more small objects."""
    h, w = image.shape[:2]
    ratio = rng.uniform(1.0, max_ratio)
    canvas = np.full((int(h * ratio), int(w * ratio), 3), int(MEAN), np.uint8)
    top, left = int(rng.uniform(0, canvas.shape[0] - h)), int(rng.uniform(0, canvas.shape[1] - w))
    canvas[top:top + h, left:left + w] = image
    return canvas, boxes + np.array([left, top, left, top], np.float32)


def _overlap(boxes: np.ndarray, crop: np.ndarray) -> np.ndarray:
    lt = np.maximum(boxes[:, :2], crop[:2])
    rb = np.minimum(boxes[:, 2:], crop[2:])
    inter = np.clip(rb - lt, 0, None).prod(axis=1)
    area = (boxes[:, 2:] - boxes[:, :2]).prod(axis=1)
    return inter / ((crop[2:] - crop[:2]).prod() + area - inter)


def random_crop(image: np.ndarray, boxes: np.ndarray, labels: np.ndarray, rng: np.random.Generator,
                tries: int = 30) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SSD's crop: a patch whose IoU with some box exceeds a random minimum; keeps boxes centred in it."""
    h, w = image.shape[:2]
    min_iou = CROP_MIN_IOUS[rng.integers(len(CROP_MIN_IOUS))]
    if min_iou is None or len(boxes) == 0:
        return image, boxes, labels
    for _ in range(tries):
        cw, ch = rng.uniform(0.3 * w, w), rng.uniform(0.3 * h, h)
        if not 0.5 <= ch / cw <= 2:
            continue
        left, top = rng.uniform(0, w - cw), rng.uniform(0, h - ch)
        crop = np.array([left, top, left + cw, top + ch], np.float32)
        if _overlap(boxes, crop).max() < min_iou:
            continue
        centres = (boxes[:, :2] + boxes[:, 2:]) / 2
        inside = ((centres > crop[:2]) & (centres < crop[2:])).all(axis=1)
        if not inside.any():
            continue
        kept = boxes[inside].copy()
        kept[:, :2] = np.maximum(kept[:, :2], crop[:2]) - crop[:2]
        kept[:, 2:] = np.minimum(kept[:, 2:], crop[2:]) - crop[:2]
        x0, y0 = int(crop[0]), int(crop[1])
        patch = image[y0:y0 + int(ch), x0:x0 + int(cw)]
        return patch, kept, labels[inside]
    return image, boxes, labels


def flip(image: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    w = image.shape[1]
    out = boxes.copy()
    out[:, 0], out[:, 2] = w - boxes[:, 2], w - boxes[:, 0]
    return image[:, ::-1], out


def augment(image: np.ndarray, boxes: np.ndarray, labels: np.ndarray, rng: np.random.Generator,
            max_expand: float = 2.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The full training chain; every step is random."""
    image = photometric(image, rng)
    if rng.random() < 0.5 and max_expand > 1:
        image, boxes = expand(image, boxes, rng, max_expand)
    image, boxes, labels = random_crop(image, boxes, labels, rng)
    if rng.random() < 0.5:
        image, boxes = flip(image, boxes)
    return image, boxes, labels


def to_tensor(image_bgr: np.ndarray, size: tuple[int, int]) -> torch.Tensor:
    """(3, H, W) float tensor: resize to `size` (height, width), RGB, (x - 127.5) * 0.007843."""
    resized = cv2.resize(image_bgr, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
    rgb = resized[:, :, ::-1].astype(np.float32)
    return torch.from_numpy(np.ascontiguousarray(((rgb - MEAN) * SCALE).transpose(2, 0, 1)))


def normalise_boxes(boxes: np.ndarray, width: int, height: int) -> torch.Tensor:
    scale = np.array([width, height, width, height], np.float32)
    return torch.from_numpy(np.clip(boxes / scale, 0.0, 1.0).astype(np.float32)).reshape(-1, 4)
