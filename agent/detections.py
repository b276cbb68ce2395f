"""`Detections`: the one value every stage after inference passes on (decoder -> tracker -> counter)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Detections:
    """Boxes of one frame, in pixel coordinates of that frame.

    Attributes:
        xyxy: (N, 4) float32 boxes as x1, y1, x2, y2.
        confidence: (N,) float32 scores in [0, 1].
        class_id: (N,) int32 class ids as the model's manifest labels them.
        tracker_id: (N,) int64 track ids once a tracker has run, else None.
    """

    xyxy: np.ndarray
    confidence: np.ndarray
    class_id: np.ndarray
    tracker_id: np.ndarray | None = field(default=None)

    def __post_init__(self) -> None:
        self.xyxy = np.asarray(self.xyxy, dtype=np.float32).reshape(-1, 4)
        n = len(self.xyxy)
        self.confidence = np.asarray(self.confidence, dtype=np.float32).reshape(-1)
        self.class_id = np.asarray(self.class_id, dtype=np.int32).reshape(-1)
        if len(self.confidence) != n or len(self.class_id) != n:
            raise ValueError(
                f"Detections: {n} boxes but {len(self.confidence)} scores and {len(self.class_id)} class ids"
            )
        if self.tracker_id is not None:
            self.tracker_id = np.asarray(self.tracker_id, dtype=np.int64).reshape(-1)
            if len(self.tracker_id) != n:
                raise ValueError(f"Detections: {n} boxes but {len(self.tracker_id)} tracker ids")

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int32))

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index: np.ndarray | slice | list[int]) -> Detections:
        """Subset by boolean mask, index array or slice."""
        return Detections(
            self.xyxy[index],
            self.confidence[index],
            self.class_id[index],
            None if self.tracker_id is None else self.tracker_id[index],
        )

    def anchors(self, anchor: str = "center") -> np.ndarray:
        """(N, 2) reference points: box `center` or `bottom_center` (feet, for floor zones)."""
        x = (self.xyxy[:, 0] + self.xyxy[:, 2]) / 2
        y = (self.xyxy[:, 1] + self.xyxy[:, 3]) / 2 if anchor == "center" else self.xyxy[:, 3]
        return np.stack([x, y], axis=1)
