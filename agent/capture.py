"""Opening a camera source, and calling it under a watchdog so a capture that hangs is abandoned.

OpenCV's `VideoCapture.read()` cannot be interrupted, and only some backends honour a timeout: FFmpeg
does (RTSP/HTTP), V4L2 (USB cameras) and a wedged driver do not. So the reader never calls a capture on
its own thread: `WatchedCapture` runs the open and every read on a daemon thread of its own and waits
for each with a deadline. A call that misses it raises `SourceStalled`; the capture is then abandoned
and its thread releases it whenever the blocked call finally returns.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from agent.config import is_file_source
from agent.redact import redact_source

BACKEND_TIMEOUT_FACTOR = 2.0
"""OpenCV's own open/read timeouts (where the backend has them) are this many times `stall_timeout_s`:
the watchdog detects the stall; the backend timeout only bounds how long an abandoned call lingers."""

CANCEL_POLL_S = 0.1


class LingeringCalls:
    """How many abandoned calls of one reader are still blocked in a driver, each holding a thread.

    A backend with a timeout returns eventually; a wedged V4L2 driver may never. The reader stops opening
    new captures while `MAX_LINGERING` are stuck, so a dead camera costs a bounded number of threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0

    def add(self, delta: int) -> None:
        with self._lock:
            self._count += delta

    @property
    def count(self) -> int:
        with self._lock:
            return self._count


class SourceStalled(Exception):
    """A call on a capture did not return within the stall timeout; the capture was abandoned."""


class ReadCancelled(Exception):
    """The reader was told to stop while a call on the capture was still running."""


Opener = Callable[[str, float], Any]
"""Makes a capture (`cv2.VideoCapture` or a stand-in) from a source and the stall timeout in seconds."""


def open_capture(source: str, timeout_s: float) -> Any:
    """`cv2.VideoCapture` for a file path, URL or USB index, with backend open/read timeouts where supported."""
    if source.isdigit():
        return cv2.VideoCapture(int(source))
    if is_file_source(source) and not Path(source).is_file():
        raise FileNotFoundError(f"video file {source} not found")
    backend_ms = int(timeout_s * BACKEND_TIMEOUT_FACTOR * 1000)
    params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, backend_ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, backend_ms]
    return cv2.VideoCapture(source, cv2.CAP_ANY, params)


@dataclass
class _Call:
    """One call handed to the capture's thread, and what came of it."""

    fn: Callable[[], Any]
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self.fn()
        except BaseException as exc:  # handed back to the caller, who decides
            self.error = exc
        finally:
            self.done.set()


class WatchedCapture:
    """One opened source whose open and reads each must return within `timeout_s` (see the module doc).

    Raises `SourceStalled` from the constructor or `read` when a call overruns, `ReadCancelled` when
    `stop` is set meanwhile, and whatever the opener or capture raised, with the source redacted.
    """

    def __init__(self, opener: Opener, source: str, timeout_s: float, stop: threading.Event,
                 lingering: LingeringCalls) -> None:
        self.source = source
        self.timeout_s = timeout_s
        self.stop = stop
        self.lingering = lingering
        self._capture: Any = None
        self._calls: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._closed = False
        self._abandoned = False
        threading.Thread(target=self._serve, name=f"capture {redact_source(source)}", daemon=True).start()
        self._call(lambda: self._open(opener), "opening")

    def _open(self, opener: Opener) -> None:
        self._capture = opener(self.source, self.timeout_s)
        if not self._capture.isOpened():
            raise OSError(f"cannot open {redact_source(self.source)}")

    def _serve(self) -> None:
        """The capture's own thread: runs calls in order until closed, then releases the capture."""
        while (call := self._calls.get()) is not None:
            call.run()
        if self._capture is not None:
            self._capture.release()
        if self._abandoned:
            self.lingering.add(-1)

    def _call(self, fn: Callable[[], Any], what: str) -> Any:
        call = _Call(fn)
        self._calls.put(call)
        deadline = time.monotonic() + self.timeout_s
        while not call.done.wait(min(CANCEL_POLL_S, max(deadline - time.monotonic(), 0.0))):
            if self.stop.is_set():
                self._abandon()
                raise ReadCancelled(what)
            if time.monotonic() >= deadline:
                self._abandon()
                raise SourceStalled(f"{what} {redact_source(self.source)}: no frame for {self.timeout_s:g} s "
                                    "(stall_timeout_s); the capture is abandoned")
        if call.error is not None:
            self.close()
            raise call.error
        return call.result

    def read(self) -> tuple[bool, np.ndarray | None]:
        """The next frame as `VideoCapture.read()` returns it, within the deadline."""
        return self._call(lambda: self._capture.read(), "reading")

    def get(self, prop: int) -> float:
        return self._call(lambda: self._capture.get(prop), "querying")

    def _abandon(self) -> None:
        """Give up on the running call; its thread counts as lingering until the call returns."""
        self._abandoned = True
        self.lingering.add(1)
        self.close()

    def close(self) -> None:
        """Release the capture on its thread, now or once a blocked call returns; never waits."""
        if not self._closed:
            self._closed = True
            self._calls.put(None)
