"""Camera readers: one thread per camera that always hands over the newest frame.

A live camera never waits for inference: when a new frame arrives before the last one was taken, the
old one is dropped (and counted). A failed or stalled source is reopened with exponential backoff.
Files can play at their own frame rate (like a camera) or as fast as inference takes frames.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from agent.config import CameraConfig, is_file_source
from agent.telemetry import CameraCounters

log = logging.getLogger(__name__)

BACKOFF_START_S = 0.5


@dataclass(frozen=True)
class Frame:
    image: np.ndarray
    index: int  # position in this camera's stream since the agent started
    ts: float  # wall-clock time it was read
    decode_s: float


class FrameSlot:
    """Holds at most one frame: `put` replaces, `take` waits for a new one."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._frame: Frame | None = None
        self.dropped = 0

    def put(self, frame: Frame) -> None:
        with self._cond:
            if self._frame is not None:
                self.dropped += 1
            self._frame = frame
            self._cond.notify_all()

    @property
    def holds_frame(self) -> bool:
        """A frame is waiting to be taken."""
        with self._cond:
            return self._frame is not None

    def take(self, timeout: float) -> Frame | None:
        with self._cond:
            if self._frame is None:
                self._cond.wait(timeout)
            frame, self._frame = self._frame, None
            self._cond.notify_all()
            return frame

    def wait_empty(self, stop: threading.Event, poll_s: float = 0.1) -> None:
        """Block until the frame in the slot was taken (consumer-paced file reading)."""
        with self._cond:
            while self._frame is not None and not stop.is_set():
                self._cond.wait(poll_s)


def open_capture(source: str, timeout_s: float) -> Any:
    """`cv2.VideoCapture` for a file path, URL or USB index, with open/read timeouts where supported."""
    if source.isdigit():
        return cv2.VideoCapture(int(source))
    if is_file_source(source) and not Path(source).is_file():
        raise FileNotFoundError(f"video file {source} not found")
    params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(timeout_s * 1000), cv2.CAP_PROP_READ_TIMEOUT_MSEC,
              int(timeout_s * 1000)]
    return cv2.VideoCapture(source, cv2.CAP_ANY, params)


class CameraReader(threading.Thread):
    """Reads one camera into a `FrameSlot` until `stop` is set."""

    def __init__(
        self,
        config: CameraConfig,
        stop: threading.Event,
        opener: Callable[[str, float], Any] = open_capture,
    ) -> None:
        super().__init__(name=f"camera-{config.name}", daemon=True)
        self.config = config
        self.stop_event = stop
        self.opener = opener
        self.slot = FrameSlot()
        self.state = "starting"
        self.frames_read = 0
        self.reconnects = 0
        self.is_file = config.is_file

    def counters(self, frames_processed: int) -> CameraCounters:
        return CameraCounters(self.state, self.frames_read, frames_processed, self.slot.dropped, self.reconnects)

    def run(self) -> None:
        backoff = BACKOFF_START_S
        while not self.stop_event.is_set():
            try:
                capture = self.opener(self.config.source, self.config.stall_timeout_s)
                if not capture.isOpened():
                    raise OSError(f"cannot open {self.config.source}")
            except (OSError, cv2.error) as exc:
                self._wait_reconnect(f"camera {self.config.name}: {exc}", backoff)
                backoff = min(backoff * 2, self.config.reconnect_max_s)
                continue
            got_frames = self._read_until_end(capture)
            capture.release()
            if got_frames:
                backoff = BACKOFF_START_S
            if self.is_file and not self.config.loop and got_frames:
                self.state = "ended"
                log.info("camera %s: end of file after %d frames", self.config.name, self.frames_read)
                return
            if self.is_file and self.config.loop and got_frames:
                continue  # reopen at frame 0
            self._wait_reconnect(f"camera {self.config.name}: stream ended or stalled", backoff)
            backoff = min(backoff * 2, self.config.reconnect_max_s)

    def _wait_reconnect(self, message: str, delay: float) -> None:
        self.state = "reconnecting"
        self.reconnects += 1
        log.warning("%s; reconnecting in %.1f s", message, delay)
        self.stop_event.wait(delay)

    def _read_until_end(self, capture: Any) -> bool:
        """Read frames into the slot; True if at least one frame came."""
        fps = capture.get(cv2.CAP_PROP_FPS) if self.is_file and self.config.realtime else 0.0
        period = 1.0 / fps if fps and fps > 0 else 0.0
        next_due = time.monotonic()
        got = False
        while not self.stop_event.is_set():
            started = time.perf_counter()
            ok, image = capture.read()
            decode_s = time.perf_counter() - started
            if not ok or image is None:
                return got
            if self.is_file and not self.config.realtime:
                # Read one frame ahead, then wait for the slot: the next frame is decoded while the
                # current one is inferred, and none is dropped.
                self.slot.wait_empty(self.stop_event)
            got = True
            self.state = "streaming"
            self.slot.put(Frame(image, self.frames_read, time.time(), decode_s))
            self.frames_read += 1
            if period:
                next_due += period
                delay = next_due - time.monotonic()
                if delay > 0:
                    self.stop_event.wait(delay)
                else:
                    next_due = time.monotonic()  # fell behind: do not try to catch up in a burst
        return got
