"""Scoring detections against Pascal VOC ground truth, in numpy: the one copy both halves use.

Reading the VOC layout (as LabelImg and CVAT export it: `Annotations/*.xml`, `JPEGImages/`,
`ImageSets/Main/<split>.txt`), box IoU, VOC AP@0.5 and the per-image count error. The agent's bench
(`agent.bench.accuracy`), its tracker and the pruning side's evaluation (`pruning.metrics`) all score
with these functions, so an IR benched on a device and a checkpoint evaluated on the host get the same
numbers from the same detections.

AP is VOC's (2010+): detections sorted by score, greedy matching at IoU >= 0.5 within each image,
detections on objects marked `difficult` neither hits nor false positives (and difficult objects not
counted as misses), precision made monotone and integrated over every recall step (all-point).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


class DatasetError(ValueError):
    """A dataset file is missing or malformed; the message names the file and the problem."""


@dataclass
class Annotation:
    """One image: boxes in pixels (x1, y1, x2, y2), 1-based labels, VOC `difficult` flags."""

    image: Path
    width: int
    height: int
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    labels: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    difficult: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))


def _text(node: ET.Element, tag: str, path: Path) -> str:
    child = node.find(tag)
    if child is None or child.text is None:
        raise DatasetError(f"{path}: <{node.tag}> has no <{tag}>")
    return child.text.strip()


def _number(node: ET.Element, tag: str, path: Path) -> float:
    value = _text(node, tag, path)
    try:
        return float(value)
    except ValueError:
        raise DatasetError(f"{path}: <{tag}> is {value!r}, not a number") from None


def parse_annotation(path: Path, class_map: dict[str, int], images: Path | None = None) -> Annotation:
    """Parse one VOC XML; objects whose class is not in `class_map` (name -> 1-based id) are dropped.

    Args:
        path: the XML file.
        class_map: class names to keep and the ids they get.
        images: directory of the images; default `JPEGImages/` beside `Annotations/`.

    Raises:
        DatasetError: unreadable XML, missing fields, non-numeric or inverted boxes.
    """
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as exc:
        raise DatasetError(f"{path}: not a readable VOC annotation ({exc})") from None
    if root.tag != "annotation":
        raise DatasetError(f"{path}: root element is <{root.tag}>, expected <annotation>")
    size = root.find("size")
    if size is None:
        raise DatasetError(f"{path}: no <size>")
    width, height = int(_number(size, "width", path)), int(_number(size, "height", path))
    if width <= 0 or height <= 0:
        raise DatasetError(f"{path}: image size {width}x{height} is not positive")
    boxes, labels, difficult = [], [], []
    for obj in root.iter("object"):
        name = _text(obj, "name", path)
        if name not in class_map:
            continue
        bnd = obj.find("bndbox")
        if bnd is None:
            raise DatasetError(f"{path}: object {name!r} has no <bndbox>")
        box = [_number(bnd, t, path) for t in ("xmin", "ymin", "xmax", "ymax")]
        if box[2] <= box[0] or box[3] <= box[1]:
            raise DatasetError(f"{path}: object {name!r} has an empty or inverted box {box}")
        flag = obj.find("difficult")
        boxes.append(box)
        labels.append(class_map[name])
        difficult.append(flag is not None and (flag.text or "0").strip() == "1")
    image_dir = images if images is not None else path.parent.parent / "JPEGImages"
    filename = root.findtext("filename") or path.with_suffix(".jpg").name
    return Annotation(image_dir / filename.strip(), width, height,
                      np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(labels, np.int64),
                      np.asarray(difficult, bool))


def read_split(root: Path, split: str) -> list[str]:
    """Image ids listed in ImageSets/Main/<split>.txt."""
    path = root / "ImageSets" / "Main" / f"{split}.txt"
    if not path.is_file():
        raise DatasetError(f"{path}: split file not found (dataset root {root})")
    return [line.split()[0] for line in path.read_text().splitlines() if line.strip()]


def load_dataset(root: Path | str, split: str, class_map: dict[str, int]) -> list[Annotation]:
    """All annotations of one split; raises DatasetError naming the first bad file."""
    root = Path(root)
    annotations = []
    for image_id in read_split(root, split):
        path = root / "Annotations" / f"{image_id}.xml"
        if not path.is_file():
            raise DatasetError(f"{path}: annotation listed in split {split!r} does not exist")
        annotations.append(parse_annotation(path, class_map))
    return annotations


def box_overlaps(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairwise intersection areas (len(a), len(b)) of two x1, y1, x2, y2 box arrays, and each one's areas."""
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    return inter, (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]), (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) IoU matrix of two (N, 4) x1, y1, x2, y2 box arrays; 0 where the union is empty."""
    a, b = np.asarray(a).reshape(-1, 4), np.asarray(b).reshape(-1, 4)
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), np.float32)
    inter, area_a, area_b = box_overlaps(a, b)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0).astype(np.float32)


def match_image(boxes: np.ndarray, scores: np.ndarray, truth_boxes: np.ndarray, truth_difficult: np.ndarray,
                iou_threshold: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """VOC greedy matching of one image's detections of one class.

    Detections are taken by descending score; each claims its best-overlapping truth box if the IoU
    reaches `iou_threshold` and no higher-scored detection claimed it. Detections whose best truth is
    `difficult` are dropped (neither hit nor false positive).

    Returns:
        (scores of the kept detections, whether each is a true positive), in descending score order.
    """
    overlaps = box_iou(boxes, truth_boxes)
    taken = np.zeros(len(truth_boxes), bool)
    kept, hits = [], []
    for i in np.argsort(-np.asarray(scores), kind="stable"):
        best = int(np.argmax(overlaps[i])) if len(truth_boxes) else -1
        hit = best >= 0 and overlaps[i, best] >= iou_threshold
        if hit and truth_difficult[best]:
            continue
        if hit and not taken[best]:
            taken[best] = True
        else:
            hit = False
        kept.append(scores[i])
        hits.append(hit)
    return np.asarray(kept, np.float64), np.asarray(hits, bool)


def average_precision(scores: np.ndarray, hits: np.ndarray, positives: int) -> float | None:
    """VOC all-point interpolated AP from all images' matched detections; None without positives.

    Args:
        scores: scores of every kept detection (see `match_image`), all images together.
        hits: whether each detection is a true positive.
        positives: truth objects that are not difficult.
    """
    if positives == 0:
        return None
    order = np.argsort(-np.asarray(scores), kind="stable")
    hits = np.asarray(hits, bool)[order]
    tp, fp = np.cumsum(hits), np.cumsum(~hits)
    recall = np.concatenate([[0.0], tp / positives, [1.0]])
    precision = np.concatenate([[0.0], tp / np.maximum(tp + fp, 1e-9), [0.0]])
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    changed = np.where(recall[1:] != recall[:-1])[0]
    return float(np.sum((recall[changed + 1] - recall[changed]) * precision[changed + 1]))


def count_error(scores: np.ndarray, threshold: float, truth: int) -> int:
    """|detections with score >= `threshold` - `truth` objects| for one image."""
    return abs(int((np.asarray(scores) >= threshold).sum()) - int(truth))
