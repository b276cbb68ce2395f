"""Label a video's frames with a teacher IR from the store and write them as a VOC dataset.

Labels are the teacher's boxes at or above `high`, plus boxes between `low` and `high` that the teacher
also sees (IoU >= `match_iou`, score >= `low`) in a neighbouring frame within `window` frames: a
temporal-consistency rule that recovers small, distant people without taking single-frame flickers.
Set `low == high` for a plain threshold. With a tile grid the teacher runs on the full frame and on
overlapping crops (`agent.tiling`), which finds the small, distant people a 300x300 input misses.
Kept boxes then pass a class-agnostic NMS at `nms_iou`, since the
teacher emits shifted duplicates of one person at low scores. The frames split in time order: the first `train_fraction`
become `train`, the rest `test` (no frame of the test part is a neighbour of a training frame's label
decision across the boundary, since the rule only looks at scores, never at the split).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator, Protocol

import cv2
import numpy as np
from tqdm import tqdm

from agent.tiling import TileGrid, detect_tiled
from models.scoring import box_iou
from pruning.data.voc import DatasetError, write_annotation, write_splits


class Teacher(Protocol):
    """What autolabel needs from `agent.detector.Detector`."""

    def infer(self, frame: np.ndarray, score_threshold: float) -> object: ...


@dataclass(frozen=True)
class LabelPolicy:
    high: float = 0.5
    low: float = 0.3
    window: int = 2
    match_iou: float = 0.4
    nms_iou: float = 0.5
    label: str = "person"
    class_id: int = 1


@dataclass
class FrameBoxes:
    index: int
    boxes: np.ndarray  # (N, 4) pixels
    scores: np.ndarray  # (N,)


def read_frames(video: Path, stride: int = 1, limit: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """(frame index, BGR frame) of every `stride`-th frame."""
    capture = cv2.VideoCapture(str(video))
    if not capture.isOpened():
        raise DatasetError(f"{video}: cannot open video")
    index = taken = 0
    try:
        while limit is None or taken < limit:
            ok, frame = capture.read()
            if not ok:
                break
            if index % stride == 0:
                yield index, frame
                taken += 1
            index += 1
    finally:
        capture.release()


def select(frames: list[FrameBoxes], policy: LabelPolicy) -> list[np.ndarray]:
    """Kept boxes per frame under the policy (see module docstring)."""
    kept = []
    for i, frame in enumerate(frames):
        keep = frame.scores >= policy.high
        unsure = (frame.scores >= policy.low) & ~keep
        if unsure.any():
            confirmed = np.zeros(len(frame.scores), bool)
            for j in range(max(0, i - policy.window), min(len(frames), i + policy.window + 1)):
                other = frames[j]
                ok = other.scores >= policy.low
                if j == i or not ok.any():
                    continue
                confirmed |= (box_iou(frame.boxes, other.boxes[ok]) >= policy.match_iou).any(axis=1)
            keep |= unsure & confirmed
        kept.append(_nms(frame.boxes[keep], frame.scores[keep], policy.nms_iou))
    return kept


def _nms(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """Drop the teacher's duplicate boxes on one person (its own NMS lets some through)."""
    order, keep = np.argsort(-scores), []
    for i in order:
        if not keep or (box_iou(boxes[i:i + 1], boxes[keep]) < threshold).all():
            keep.append(i)
    return boxes[keep]


def run_teacher(teacher: Teacher, video: Path, stride: int, floor: float, limit: int | None = None,
                out_images: Path | None = None, prefix: str = "frame", tiles: TileGrid | None = None
                ) -> list[FrameBoxes]:
    """Teacher boxes (score >= floor) per frame, tiled when `tiles` is set; writes the frames as JPEG when
    `out_images` is set."""
    frames = []
    for index, frame in tqdm(read_frames(video, stride, limit), desc="autolabel", unit="frame"):
        det = detect_tiled(teacher.infer, frame, floor, tiles)[0] if tiles else teacher.infer(frame, floor)
        frames.append(FrameBoxes(index, np.asarray(det.xyxy, np.float32), np.asarray(det.confidence)))
        if out_images is not None:
            out_images.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(out_images / f"{prefix}_{index:06d}.jpg"), frame, [cv2.IMWRITE_JPEG_QUALITY, 95])
    return frames


def write_dataset(root: Path, frames: list[FrameBoxes], policy: LabelPolicy, size: tuple[int, int],
                  train_fraction: float, prefix: str, provenance: dict) -> dict[str, list[str]]:
    """Annotations, splits (time order) and `autolabel.json` (policy, teacher, counts)."""
    kept = select(frames, policy)
    ids = [f"{prefix}_{f.index:06d}" for f in frames]
    for image_id, boxes in zip(ids, kept, strict=True):
        write_annotation(root / "Annotations" / f"{image_id}.xml", f"{image_id}.jpg", size[0], size[1],
                         boxes, [policy.label] * len(boxes))
    cut = int(round(len(ids) * train_fraction))
    splits = {"train": ids[:cut], "test": ids[cut:], "all": ids}
    write_splits(root, splits)
    record = dict(provenance, policy=asdict(policy), train_fraction=train_fraction,
                  frames=len(ids), boxes=int(sum(len(k) for k in kept)),
                  boxes_at_high=int(sum((f.scores >= policy.high).sum() for f in frames)),
                  raw=[{"frame": f.index, "boxes": f.boxes.round(1).tolist(),
                        "scores": f.scores.round(4).tolist()} for f in frames])
    (root / "autolabel.json").write_text(json.dumps(record, indent=1))
    return splits


def autolabel(teacher: Teacher, video: Path, root: Path, policy: LabelPolicy, stride: int = 1,
              train_fraction: float = 0.7, limit: int | None = None, provenance: dict | None = None,
              tiles: TileGrid | None = None) -> dict[str, list[str]]:
    """Label `video` into a VOC dataset at `root`; returns the split ids."""
    prefix = video.stem
    frames = run_teacher(teacher, video, stride, min(policy.low, policy.high), limit,
                         root / "JPEGImages", prefix, tiles)
    if not frames:
        raise DatasetError(f"{video}: no frames read")
    first = cv2.imread(str(root / "JPEGImages" / f"{prefix}_{frames[0].index:06d}.jpg"))
    size = (first.shape[1], first.shape[0])
    details = dict(provenance or {}, video=str(video), stride=stride, tiles=asdict(tiles) if tiles else None)
    return write_dataset(root, frames, policy, size, train_fraction, prefix, details)
