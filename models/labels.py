"""Hand labels of a video, and how counts and crossings are scored against them.

A hand-label file (`data/labels/<clip>/labels.json`) holds, for some frames, how many people a person
counted (with a range where someone is doubtful), and every crossing of a counting line with its frame
and direction. Both halves score against it: the agent's `count` tool and the host's calibration.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

CROSSING_TOLERANCE_FRAMES = 10
"""A counted crossing matches a labelled one of the same direction within this many frames (1 s at 10 fps)."""


class LabelsError(ValueError):
    """A hand-label file is unusable; the message names the file and the problem."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LabelledLine(_Strict):
    start: tuple[float, float] = Field(description="Line start, normalised (x, y).")
    end: tuple[float, float] = Field(description="Line end, normalised (x, y).")
    inside: tuple[float, float] = Field(description="A point on the inside: moving towards it is `in`.")


class FrameCountLabel(_Strict):
    frame: int = Field(ge=0, description="Frame index from 0, as OpenCV decodes the clip.")
    count: int = Field(ge=0, description="Best single answer: people in the frame.")
    min: int = Field(ge=0, description="People surely in the frame.")
    max: int = Field(ge=0, description="Sure plus doubtful people.")
    points: list[tuple[int, int]] = Field(default_factory=list, description="Body centres of the sure people.")
    doubtful: list[tuple[int, int]] = Field(default_factory=list, description="Body centres of doubtful people.")
    note: str = ""

    @model_validator(mode="after")
    def _ordered(self) -> FrameCountLabel:
        if not self.min <= self.count <= self.max:
            raise ValueError(f"frame {self.frame}: needs min <= count <= max, got {self.min}, {self.count}, {self.max}")
        return self


class CrossingLabel(_Strict):
    frame: int = Field(ge=0, description="First frame with the body centre on the new side.")
    direction: Literal["in", "out"]
    x: float | None = Field(default=None, ge=0.0, le=1.0, description="Where on the line (normalised x).")
    doubtful: bool = Field(default=False, description="The labeller could not tell whether this is a crossing "
                           "(the note says why): scores give recall with and without it.")
    note: str = ""


class HandLabels(_Strict):
    video: str = Field(description="File name of the clip.")
    frame_count: int = Field(ge=1, description="Frames in the clip.")
    frame_size: tuple[int, int] = Field(description="(width, height) in pixels.")
    rule: str = Field(description="The counting rule the labeller followed.")
    line: LabelledLine | None = Field(default=None, description="The line the crossings refer to.")
    test_from_frame: int = Field(ge=0, description="Frames from here on are the test part (never trained on).")
    counts: list[FrameCountLabel] = Field(default_factory=list)
    crossings: list[CrossingLabel] = Field(default_factory=list)

    @model_validator(mode="after")
    def _frames_in_clip(self) -> HandLabels:
        frames = [c.frame for c in self.counts]
        if len(set(frames)) != len(frames):
            raise ValueError("a frame is labelled twice in `counts`")
        late = [f for f in frames + [c.frame for c in self.crossings] if f >= self.frame_count]
        if late:
            raise ValueError(f"frames beyond the clip's {self.frame_count}: {sorted(set(late))[:5]}")
        return self

    def part(self, which: Literal["all", "test", "calibration"]) -> HandLabels:
        """The labels of the test part (frames >= test_from_frame), the part before it, or all."""
        if which == "all":
            return self
        keep = (lambda f: f >= self.test_from_frame) if which == "test" else (lambda f: f < self.test_from_frame)
        return self.model_copy(update={"counts": [c for c in self.counts if keep(c.frame)],
                                       "crossings": [c for c in self.crossings if keep(c.frame)]})


def load_labels(path: Path | str) -> HandLabels:
    """Read and validate a hand-label file; raises LabelsError naming the file and the problem."""
    path = Path(path)
    try:
        return HandLabels.model_validate(json.loads(path.read_text()))
    except FileNotFoundError:
        raise LabelsError(f"{path}: label file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LabelsError(f"{path}: cannot read label file: {exc}") from None
    except json.JSONDecodeError as exc:
        raise LabelsError(f"{path}: not valid JSON: {exc}") from None
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}"
                             for e in exc.errors()[:5])
        raise LabelsError(f"{path}: not a hand-label file ({exc.error_count()} problem(s)): {problems}") from None


def range_error(predicted: int, label: FrameCountLabel) -> int:
    """How far a count lies outside the labelled range [min, max] (0 inside it)."""
    return max(label.min - predicted, predicted - label.max, 0)


@dataclass(frozen=True)
class CountScore:
    """Count error over labelled frames: against the range, and against the best single answer."""

    frames: int
    mae: float
    mae_best: float


def score_counts(predicted: dict[int, int], labels: list[FrameCountLabel]) -> CountScore:
    """Score per-frame counts (frame -> count) on the labelled frames that were predicted."""
    scored = [label for label in labels if label.frame in predicted]
    if not scored:
        return CountScore(0, float("nan"), float("nan"))
    errors = [range_error(predicted[label.frame], label) for label in scored]
    best = [abs(predicted[label.frame] - label.count) for label in scored]
    return CountScore(len(scored), sum(errors) / len(scored), sum(best) / len(scored))


@dataclass(frozen=True)
class CrossingScore:
    """Counted crossings matched to labelled ones (same direction, within `tolerance` frames)."""

    labelled: int
    counted: int
    matched: int
    tolerance: int
    missed: tuple[int, ...] = ()
    """Frames of the labelled crossings no counted one matched."""
    spurious: tuple[tuple[int, str], ...] = ()
    """(frame, direction) of the counted crossings that match no label."""
    doubtful: int = 0
    """How many of the labelled crossings are marked doubtful."""
    doubtful_missed: tuple[int, ...] = ()
    """Frames of the missed ones that are doubtful."""

    @property
    def recall(self) -> float | None:
        """Matched over every labelled crossing, doubtful ones included."""
        return self.matched / self.labelled if self.labelled else None

    @property
    def recall_sure(self) -> float | None:
        """Matched over the crossings the labeller was sure of (a doubtful one missed is not held against it)."""
        sure = self.labelled - self.doubtful
        missed_sure = len(self.missed) - len(self.doubtful_missed)
        return (sure - missed_sure) / sure if sure else None

    @property
    def precision(self) -> float | None:
        return self.matched / self.counted if self.counted else None


def score_crossings(counted: list[tuple[int, str]], labels: list[CrossingLabel],
                    tolerance: int = CROSSING_TOLERANCE_FRAMES) -> CrossingScore:
    """Match counted (frame, direction) events to labels one to one, nearest in time first."""
    pairs = sorted(
        (abs(frame - label.frame), i, j)
        for i, (frame, direction) in enumerate(counted)
        for j, label in enumerate(labels)
        if direction == label.direction and abs(frame - label.frame) <= tolerance
    )
    used_counted: set[int] = set()
    used_labels: set[int] = set()
    for _, i, j in pairs:
        if i not in used_counted and j not in used_labels:
            used_counted.add(i)
            used_labels.add(j)
    missed = [label for j, label in enumerate(labels) if j not in used_labels]
    return CrossingScore(len(labels), len(counted), len(used_counted), tolerance,
                         missed=tuple(label.frame for label in missed),
                         spurious=tuple(event for i, event in enumerate(counted) if i not in used_counted),
                         doubtful=sum(label.doubtful for label in labels),
                         doubtful_missed=tuple(label.frame for label in missed if label.doubtful))
