"""One camera's counting path, frame by frame: detect (tiled or not), zone, tracker, line, smoothing.

The agent's camera workers and `headcount-agent count` both run frames through `CountPath`, so what the
count tool reports for a video is what the agent would publish for it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agent.config import CameraConfig, OccupancyConfig, TilingConfig, TrackerConfig
from agent.counting import CameraCounter, CountResult
from agent.detections import Detections
from agent.detector import InferSession, StageTimes
from agent.occupancy import OccupancySmoother, SmoothingSettings
from agent.tiling import detect_tiled


@dataclass
class FrameCount:
    """What one frame produced: the raw result, the occupancy to publish, and the stage times."""

    result: CountResult
    occupancy: int
    times: StageTimes


class CountPath:
    """Frames of one camera in, counts out. Not thread-safe: one camera thread owns it."""

    def __init__(self, camera: CameraConfig, tracker: TrackerConfig, occupancy: OccupancyConfig,
                 model_tiling: TilingConfig | None = None) -> None:
        self.camera = camera
        self.counter = CameraCounter(camera, tracker)
        tiling = camera.tiling or model_tiling
        self.tiles = tiling.grid() if tiling else None
        smoothing = camera.occupancy or occupancy
        self.smoother = OccupancySmoother(SmoothingSettings(smoothing.window_s, smoothing.statistic,
                                                            smoothing.hold_s))

    def detect(self, session: InferSession, image: np.ndarray, threshold: float) -> tuple[Detections, StageTimes]:
        """Detections on the whole frame, or merged from the tile grid's windows."""
        if self.tiles is None:
            return session.run(image, threshold)
        total = StageTimes()

        def run_window(window: np.ndarray, score: float) -> Detections:
            found, times = session.run(window, score)
            total.add(times)
            return found

        detections, total.tiling = detect_tiled(run_window, image, threshold, self.tiles)
        return detections, total

    def process(self, session: InferSession, image: np.ndarray, ts: float, threshold: float,
                class_id: int, frame: int = 0) -> FrameCount:
        """Count one frame taken at `ts` (seconds, in stream order), index `frame` in its stream."""
        detections, times = self.detect(session, image, threshold)
        height, width = image.shape[:2]
        return self.count(detections, width, height, ts, class_id, times, frame)

    def count(self, detections: Detections, width: int, height: int, ts: float, class_id: int,
              times: StageTimes | None = None, frame: int = 0) -> FrameCount:
        """Count one frame's detections (what `process` does after detecting; replays use it alone)."""
        result = self.counter.update(detections, width, height, class_id, ts, frame)
        return FrameCount(result, self.smoother.update(ts, result.count), times or StageTimes())

    def reset_tracks(self) -> None:
        """After a stream gap: old tracks and the smoothing window mean nothing; totals are kept."""
        self.counter.reset_tracks()
        self.smoother.reset()
