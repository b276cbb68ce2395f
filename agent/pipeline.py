"""Per-camera processing: newest frame -> detector -> counter -> count message.

Each camera has its own worker thread; requests come from the model's pool (`agent.inference_pool`), so
several cameras keep the device busy at once (the GIL is released while a request runs), and one camera
starts its next frame while it counts the last. The detector is read from `ActiveModel` once per frame: a
model swap takes effect between two frames and never inside one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone

from agent.config import ModelConfig
from agent.count_path import CountPath, FrameCount, StartedFrame
from agent.counting import CountResult
from agent.detector import Detector, StageTimes
from agent.stream import CameraReader, Frame
from agent.telemetry import CameraCounters, StageStats
from agent.topics import CountMessage, CrossingMessage
from agent.totals import CameraTotals, TotalsKeeper
from models.manifest import Manifest

log = logging.getLogger(__name__)


DEFAULT_COUNT_THRESHOLD = 0.5
"""Score from which a detection is counted when neither the config nor the model's manifest says."""


def count_threshold(config: ModelConfig, manifest: Manifest) -> float:
    """The config's `score_threshold`, else the model's calibrated count threshold, else the default."""
    if config.score_threshold is not None:
        return config.score_threshold
    calibrated = manifest.metrics.count_threshold
    return DEFAULT_COUNT_THRESHOLD if calibrated is None else calibrated


@dataclass(frozen=True)
class RunningModel:
    """A compiled detector, the class id it gives the counted label, and the score it is counted from."""

    detector: Detector
    class_id: int
    threshold: float = DEFAULT_COUNT_THRESHOLD
    since: datetime = field(default_factory=lambda: datetime.now(timezone.utc))


class ActiveModel:
    """The model every camera uses now. `swap` replaces one reference, so a frame sees old or new, never a mix."""

    def __init__(self, running: RunningModel) -> None:
        self.current = running

    @property
    def detector(self) -> Detector:
        return self.current.detector

    @property
    def since(self) -> datetime:
        return self.current.since

    def swap(self, running: RunningModel) -> RunningModel:
        old, self.current = self.current, running
        return old


@dataclass(frozen=True)
class _FrameInFlight:
    """A camera's frame whose detection was started on `running`'s model, not yet counted."""

    frame: Frame
    running: RunningModel
    started: StartedFrame


Emit = Callable[[CountMessage, Sequence[CrossingMessage], CameraTotals], object]
"""Queues one frame's count message, its crossing events and the camera's totals together (`CountWriter`, which
runs `CountOutbox.put` off the camera thread)."""


class CameraWorker(threading.Thread):
    """Runs one camera's frames through the active model and emits count and crossing messages."""

    def __init__(
        self,
        reader: CameraReader,
        path: CountPath,
        active: ActiveModel,
        stats: StageStats,
        emit: Emit,
        heartbeat_s: float,
        stop: threading.Event,
        on_error: Callable[[str, Exception], None],
        totals: TotalsKeeper | None = None,
    ) -> None:
        super().__init__(name=f"worker-{reader.config.name}", daemon=True)
        self.reader = reader
        self.path = path
        self.active = active
        self.stats = stats
        self.emit = emit
        self.heartbeat_s = heartbeat_s
        self.stop_event = stop
        self.on_error = on_error
        self.totals = totals or TotalsKeeper.in_memory(reader.config.name)
        path.counter.restore(self.totals.state.in_total, self.totals.state.out_total)
        self.frames_processed = 0
        self.last_inference = time.monotonic()
        self.first_inference: float | None = None
        self.max_count = 0
        self._last: tuple[int, int, int, datetime] | None = None  # occupancy, in, out, period_start
        self._running: RunningModel | None = None
        self.switch_frames: deque[tuple[RunningModel, int]] = deque(maxlen=1)
        """(model, index of the first frame it processed) for the model this camera runs now. Only the latest:
        an older entry would keep a swapped-out compiled model (~85 MB) in memory for good."""
        self._last_emit = 0.0
        self._last_frame: int | None = None  # index of the frame the last count message was about
        self.latest: tuple | None = None
        """(frame, detections, result, class_id) of the last processed frame, by reference, for snapshots."""

    @property
    def camera(self) -> str:
        return self.reader.config.name

    def counters(self) -> CameraCounters:
        return self.reader.counters(self.frames_processed)

    def steady_fps(self) -> float | None:
        """Frames per second from the first to the last inference (start-up excluded)."""
        if self.first_inference is None or self.frames_processed < 2:
            return None
        return (self.frames_processed - 1) / max(self.last_inference - self.first_inference, 1e-9)

    @property
    def finished(self) -> bool:
        return self.reader.state == "ended" and not self.reader.is_alive()

    def run(self) -> None:
        """Frames until stopped or the stream ends.

        When the device has finished a frame, the newest frame is started (on an idle request) before the
        finished one is decoded, counted and published, so the device works meanwhile; without a new frame
        the finished one is counted at once.
        """
        in_flight: _FrameInFlight | None = None
        while not self.stop_event.is_set():
            frame = None
            if in_flight is None:
                frame = self.reader.slot.take(timeout=0.5)
                if frame is None:
                    if self.finished:
                        break
                    continue
            try:
                in_flight = self._step(in_flight, frame)
            except Exception as exc:  # a device error must not kill the camera's thread
                in_flight = None
                log.error("camera %s: inference failed: %s", self.camera, exc)
                self.on_error(self.camera, exc)
                self.stop_event.wait(0.5)
        if in_flight is not None:
            try:
                self._finish(in_flight)
            except Exception as exc:  # stopping: the frame is lost, its request was given back
                log.error("camera %s: the last frame failed: %s", self.camera, exc)
        self.flush()

    def _step(self, in_flight: _FrameInFlight | None, frame: Frame | None) -> _FrameInFlight | None:
        """Start the next frame, then count the one in flight; returns the frame now in flight.

        With a frame in flight, the next one is the newest when the device has finished it, started on an
        idle request (never waiting for one: two cameras each holding one would wait for each other).
        Whatever fails, every request started here or passed in is given back.
        """
        started = None
        try:
            if in_flight is not None:
                in_flight.started.wait()
                frame = self.reader.slot.take(timeout=0.0)
            if frame is not None:
                started = self._start(frame, wait=in_flight is None)
                if started is None:  # no idle request: count the frame in flight first, then wait for one
                    assert in_flight is not None
                    pending, in_flight = in_flight, None
                    self._finish(pending)
                    started = self._start(frame, wait=True)
            if in_flight is not None:
                pending, in_flight = in_flight, None
                self._finish(pending)
        except BaseException:
            for left in (started, in_flight):
                if left is not None:
                    left.started.abandon()
            raise
        return started

    def flush(self) -> None:
        """The stream ended or the agent stops: crossings still waiting for confirmation are counted now,
        and the last frame's count is published even if unchanged, so subscribers see where it ended (an
        unchanged count is otherwise repeated only every `heartbeat_s`, which a file read faster skips)."""
        crossings = self.path.counter.flush()
        if self.latest is None or (not crossings and self._last_frame == self.latest[0].index):
            return
        frame, _, last, _ = self.latest
        in_total, out_total = self.path.counter.totals
        result = CountResult(last.count, in_total, out_total, crossings)
        try:
            self._maybe_emit(frame, FrameCount(result, self._last[0] if self._last else last.count, StageTimes()),
                             self.active.detector.manifest.ref, always=True)
        except Exception as exc:  # the writer is closed: nothing was adopted, so nothing is counted twice
            log.error("camera %s: the last count (%d crossings) was not queued: %s", self.camera, len(crossings), exc)

    def process(self, frame: Frame) -> FrameCount:
        """Detect and count one frame, synchronously."""
        started = self._start(frame, wait=True)
        assert started is not None
        return self._finish(started)

    def _start(self, frame: Frame, wait: bool) -> _FrameInFlight | None:
        running = self.active.current  # the swap point: one model for the whole frame
        started = self.path.start(running.detector.session(), frame.image, running.threshold, wait)
        return None if started is None else _FrameInFlight(frame, running, started)

    def _finish(self, in_flight: _FrameInFlight) -> FrameCount:
        frame, running = in_flight.frame, in_flight.running
        if running is not self._running:
            self._running = running
            self.switch_frames.append((running, frame.index))
        if self.totals.roll_over():  # a reset time passed: this frame counts in the new period
            self.path.counter.restore(0, 0)
        counted = self.path.finish(in_flight.started, frame.ts, running.class_id, frame.index)
        self.latest = (frame, counted.result.people, counted.result, running.class_id)
        times = counted.times
        self.stats.add("decode", frame.decode_s)
        self.stats.add("preprocess", times.preprocess)
        self.stats.add("infer", times.infer)
        self.stats.add("postprocess", times.postprocess)
        if self.path.tiles is not None:
            self.stats.add("tiling", times.tiling)
        self.frames_processed += 1
        self.last_inference = time.monotonic()
        if self.first_inference is None:
            self.first_inference = self.last_inference
        self.max_count = max(self.max_count, counted.occupancy)
        self._maybe_emit(frame, counted, running.detector.manifest.ref)
        return counted

    def _maybe_emit(self, frame: Frame, counted: FrameCount, model: str, always: bool = False) -> None:
        result = counted.result
        crossings, totals = self.totals.record(result, model)
        key = (counted.occupancy, totals.in_total, totals.out_total, totals.period_start)
        now = time.monotonic()
        if not always and key == self._last and now - self._last_emit < self.heartbeat_s:
            return
        message = CountMessage(
            ts=frame.ts, seq=0, camera=self.camera, count=counted.occupancy, raw_count=result.count,
            in_total=totals.in_total, out_total=totals.out_total, model=model, frame=frame.index,
            period_start=totals.period_start,
        )
        try:
            self.emit(message, crossings, totals)
        except Exception:  # not queued, so not counted: the totals stay those of the last queued message
            self.path.counter.restore(self.totals.state.in_total, self.totals.state.out_total)
            raise
        self._last, self._last_emit, self._last_frame = key, now, frame.index
        self.totals.state = totals
