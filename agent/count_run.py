"""Run a clip through a camera's counting path offline, score it against hand labels, calibrate a threshold.

This is what `headcount-agent count` does. Frames are read one by one, none dropped; each frame's time is
its position in the clip (index / fps), as a live camera at that frame rate would stamp it, so smoothing
windows cover the same frames they would in the agent.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from agent.config import is_file_source
from agent.count_path import CountPath, FrameCount
from agent.counting import Crossing
from agent.detections import Detections
from agent.detector import InferSession
from models.labels import FrameCountLabel, score_counts

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
DEFAULT_FPS = 10.0


class SourceError(ValueError):
    """A video, camera or image folder that cannot be read."""


@dataclass(frozen=True)
class SourceFrame:
    index: int
    image: np.ndarray
    ts: float


def video_frames(source: str, fps: float | None = None, max_frames: int | None = None) -> Iterator[SourceFrame]:
    """Every frame of a video file (time = index / fps) or a live camera (time = when read)."""
    capture = cv2.VideoCapture(int(source) if source.isdigit() else source)
    if not capture.isOpened():
        raise SourceError("cannot open the source (missing file, bad URL or unreachable camera)")
    rate = fps or capture.get(cv2.CAP_PROP_FPS) or DEFAULT_FPS
    live = not is_file_source(source)
    started = time.monotonic()
    index = 0
    try:
        while max_frames is None or index < max_frames:
            ok, image = capture.read()
            if not ok:
                break
            yield SourceFrame(index, image, time.monotonic() - started if live else index / rate)
            index += 1
    finally:
        capture.release()


def image_frames(folder: Path, fps: float = DEFAULT_FPS) -> Iterator[SourceFrame]:
    """The images of a folder in name order, one frame each, `fps` apart."""
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise SourceError(f"{folder}: no images ({', '.join(IMAGE_SUFFIXES)})")
    for index, path in enumerate(files):
        image = cv2.imread(str(path))
        if image is None:
            raise SourceError(f"{path}: not a readable image")
        yield SourceFrame(index, image, index / fps)


@dataclass
class CountRun:
    """What a clip gave: published occupancy and raw count per frame, crossings, totals."""

    occupancy: dict[int, int] = field(default_factory=dict)
    raw_count: dict[int, int] = field(default_factory=dict)
    crossings: list[dict[str, int | str]] = field(default_factory=list)
    in_total: int = 0
    out_total: int = 0
    frame_size: tuple[int, int] | None = None
    infer_s: float = 0.0

    @property
    def frames_read(self) -> int:
        return len(self.occupancy)

    def add(self, index: int, counted: FrameCount) -> None:
        result = counted.result
        self.occupancy[index] = counted.occupancy
        self.raw_count[index] = result.count
        self.add_crossings(result.crossings)
        self.in_total, self.out_total = result.in_total, result.out_total
        self.infer_s += counted.times.infer

    def add_crossings(self, crossings: list[Crossing]) -> None:
        self.crossings += [{"frame": c.frame, "direction": c.direction, "track": c.track_id} for c in crossings]

    def end(self, path: CountPath) -> CountRun:
        """The crossings still waiting for confirmation when the clip ended count too."""
        self.add_crossings(path.counter.flush())
        self.in_total, self.out_total = path.counter.totals
        return self

    def changes(self) -> int:
        """How often the published occupancy changed from one frame to the next."""
        values = [self.occupancy[i] for i in sorted(self.occupancy)]
        return sum(a != b for a, b in zip(values, values[1:], strict=False))


FrameHook = Callable[[SourceFrame, FrameCount], None]


def count_clip(path: CountPath, session: InferSession, frames: Iterator[SourceFrame], threshold: float,
               class_id: int, on_frame: FrameHook | None = None) -> CountRun:
    """Every frame through the counting path, exactly as a camera worker runs it."""
    run = CountRun()
    for frame in frames:
        counted = path.process(session, frame.image, frame.ts, threshold, class_id, frame.index)
        run.add(frame.index, counted)
        run.frame_size = (frame.image.shape[1], frame.image.shape[0])
        if on_frame is not None:
            on_frame(frame, counted)
    return run.end(path)


@dataclass(frozen=True)
class CachedFrame:
    index: int
    ts: float
    size: tuple[int, int]
    detections: Detections


def detect_clip(path: CountPath, session: InferSession, frames: Iterator[SourceFrame],
                floor: float) -> list[CachedFrame]:
    """Detections of every frame at a low `floor` score, kept to replay the counting at any threshold."""
    return [CachedFrame(f.index, f.ts, (f.image.shape[1], f.image.shape[0]), path.detect(session, f.image, floor)[0])
            for f in frames]


def replay(make_path: Callable[[], CountPath], cached: list[CachedFrame], threshold: float,
           class_id: int) -> CountRun:
    """Count cached detections at `threshold` through a fresh counting path."""
    path, run = make_path(), CountRun()
    for frame in cached:
        kept = frame.detections[frame.detections.confidence >= threshold]
        run.add(frame.index, path.count(kept, *frame.size, frame.ts, class_id, frame=frame.index))
    return run.end(path)


def calibrate(make_path: Callable[[], CountPath], cached: list[CachedFrame], labels: list[FrameCountLabel],
              class_id: int, thresholds: list[float]) -> tuple[float, dict[float, float]]:
    """The threshold whose published occupancy has the least count error on `labels`, and every threshold's.

    Ties go to the threshold nearer 0.5 (the one least tuned to these frames).
    """
    if not labels:
        raise ValueError("no labelled frames to calibrate on")
    errors = {t: score_counts(replay(make_path, cached, t, class_id).occupancy, labels).mae for t in thresholds}
    scored = {t: e for t, e in errors.items() if not math.isnan(e)}
    if not scored:
        raise ValueError("none of the labelled frames is in the clip")
    best = min(scored, key=lambda t: (round(scored[t], 6), abs(t - 0.5)))
    return best, errors
