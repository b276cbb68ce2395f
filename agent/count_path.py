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
from agent.inference_pool import Pending
from agent.occupancy import OccupancySmoother, SmoothingSettings
from agent.tiling import detect_tiled


@dataclass
class FrameCount:
    """What one frame produced: the raw result, the occupancy to publish, and the stage times."""

    result: CountResult
    occupancy: int
    times: StageTimes


@dataclass
class StartedFrame:
    """A frame whose detection was started (tiled frames: already done); `CountPath.finish` counts it."""

    size: tuple[int, int]  # (width, height)
    threshold: float
    in_flight: Pending | None = None
    done: tuple[Detections, StageTimes] | None = None

    def wait(self) -> None:
        """Until the device has finished with the frame (its detections are not decoded yet)."""
        if self.in_flight is not None:
            self.in_flight.wait()

    def detections(self) -> tuple[Detections, StageTimes]:
        """Wait for the detections (once)."""
        if self.in_flight is not None:
            return self.in_flight.result(self.threshold)
        assert self.done is not None
        return self.done

    def abandon(self) -> None:
        """Give the request back without counting (the frame before it failed)."""
        try:
            self.detections()
        except Exception:  # noqa: BLE001 - its own error is not the one being reported
            pass


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
        started = self.start(session, image, threshold)
        assert started is not None
        return self.finish(started, ts, class_id, frame)

    def start(self, session: InferSession, image: np.ndarray, threshold: float,
              wait: bool = True) -> StartedFrame | None:
        """Start detecting on a frame; with `wait=False` only on a request idle now (None if there is none).

        A tiled frame is detected here, window after window, and never started early.
        """
        height, width = image.shape[:2]
        if self.tiles is not None:
            return StartedFrame((width, height), threshold, done=self.detect(session, image, threshold)) if wait \
                else None
        in_flight = session.start(image) if wait else session.try_start(image)
        return None if in_flight is None else StartedFrame((width, height), threshold, in_flight)

    def finish(self, started: StartedFrame, ts: float, class_id: int, frame: int = 0) -> FrameCount:
        """Count a started frame (frames of one camera are finished in the order they were started)."""
        detections, times = started.detections()
        return self.count(detections, *started.size, ts, class_id, times, frame)

    def count(self, detections: Detections, width: int, height: int, ts: float, class_id: int,
              times: StageTimes | None = None, frame: int = 0) -> FrameCount:
        """Count one frame's detections (what `process` does after detecting; replays use it alone)."""
        result = self.counter.update(detections, width, height, class_id, ts, frame)
        return FrameCount(result, self.smoother.update(ts, result.count), times or StageTimes())

    def reset_tracks(self) -> None:
        """After a stream gap: old tracks and the smoothing window mean nothing; totals are kept."""
        self.counter.reset_tracks()
        self.smoother.reset()
