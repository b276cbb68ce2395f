"""Camera readers: one thread per camera that always hands over the newest frame.

A live camera never waits for inference: when a new frame arrives before the last one was taken, the
old one is dropped (and counted). A source that fails, ends or stalls is reopened with exponential
backoff. A stall is watched on frame arrival for every kind of source (`agent.capture.WatchedCapture`):
a read that has not returned after `stall_timeout_s` is abandoned. Files can play at their own frame
rate (like a camera) or as fast as inference takes frames.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from agent.capture import LingeringCalls, Opener, ReadCancelled, SourceStalled, WatchedCapture, open_capture
from agent.config import CameraConfig
from agent.redact import redact_text
from agent.telemetry import CameraCounters

log = logging.getLogger(__name__)

BACKOFF_START_S = 0.5
RECONNECT_HISTORY = 64
MAX_LINGERING = 2
"""Abandoned captures still blocked in their driver before the reader stops opening new ones."""

ReconnectReason = Literal["open failed", "stalled", "ended"]


@dataclass(frozen=True)
class ReconnectAttempt:
    """One wait before reopening a source: when it began (monotonic), how long, and why."""

    at: float
    delay_s: float
    reason: ReconnectReason


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


class CameraReader(threading.Thread):
    """Reads one camera into a `FrameSlot` until `stop` is set; `opener` makes the capture (tests inject one)."""

    def __init__(self, config: CameraConfig, stop: threading.Event, opener: Opener = open_capture) -> None:
        super().__init__(name=f"camera-{config.name}", daemon=True)
        self.config = config
        self.stop_event = stop
        self.opener = opener
        self.slot = FrameSlot()
        self.state = "starting"
        self.frames_read = 0
        self.reconnects = 0
        self.reconnect_history: deque[ReconnectAttempt] = deque(maxlen=RECONNECT_HISTORY)
        self.lingering = LingeringCalls()
        self.is_file = config.is_file

    def counters(self, frames_processed: int) -> CameraCounters:
        return CameraCounters(self.state, self.frames_read, frames_processed, self.slot.dropped, self.reconnects)

    def run(self) -> None:
        backoff = BACKOFF_START_S
        while not self.stop_event.is_set():
            frames_before = self.frames_read
            try:
                capture = self._open()
            except (OSError, cv2.error) as exc:
                problem, reason = str(exc), "open failed"
            except SourceStalled as exc:
                problem, reason = str(exc), "stalled"
            except ReadCancelled:
                return
            else:
                try:
                    self._read_until_end(capture)
                    problem, reason = "stream ended", "ended"
                except SourceStalled as exc:
                    problem, reason = str(exc), "stalled"
                except ReadCancelled:
                    return
                finally:
                    capture.close()
            if self.stop_event.is_set():
                return
            if self.frames_read > frames_before:
                backoff = BACKOFF_START_S
                if self.is_file and reason == "ended":
                    if not self.config.loop:
                        self.state = "ended"
                        log.info("camera %s: end of file after %d frames", self.config.name, self.frames_read)
                        return
                    continue  # reopen at frame 0
            self._wait_reconnect(problem, reason, backoff)
            backoff = min(backoff * 2, self.config.reconnect_max_s)

    def _open(self) -> WatchedCapture:
        if self.lingering.count >= MAX_LINGERING:
            raise SourceStalled(f"{self.lingering.count} abandoned captures are still blocked in the driver; "
                                "not opening another until one returns")
        return WatchedCapture(self.opener, self.config.source, self.config.stall_timeout_s, self.stop_event,
                              self.lingering)

    def _wait_reconnect(self, message: str, reason: ReconnectReason, delay: float) -> None:
        self.state = "reconnecting"
        self.reconnects += 1
        self.reconnect_history.append(ReconnectAttempt(time.monotonic(), delay, reason))
        log.warning("camera %s: %s; reconnecting in %.1f s", self.config.name, redact_text(message), delay)
        self.stop_event.wait(delay)

    def _read_until_end(self, capture: WatchedCapture) -> None:
        """Read frames into the slot until the source ends; raises `SourceStalled` or `ReadCancelled`."""
        fps = capture.get(cv2.CAP_PROP_FPS) if self.is_file and self.config.realtime else 0.0
        period = 1.0 / fps if fps and fps > 0 else 0.0
        next_due = time.monotonic()
        while not self.stop_event.is_set():
            started = time.perf_counter()
            ok, image = capture.read()
            decode_s = time.perf_counter() - started
            if not ok or image is None:
                return
            if self.is_file and not self.config.realtime:
                # Read one frame ahead, then wait for the slot: the next frame is decoded while the
                # current one is inferred, and none is dropped.
                self.slot.wait_empty(self.stop_event)
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
