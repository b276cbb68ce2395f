"""Queueing counts off the camera threads: one writer thread runs `CountOutbox.put` for every camera.

`CountOutbox.put` commits with `synchronous=FULL`, so each call waits for the disk: about a millisecond
on this project's VM, but a cheap PC's eMMC or SD card, a disk shared with other programs, or a journal
flushing someone else's data can hold a commit for longer than a 10 fps camera's frame period. Under a
`dd` from /dev/urandom writing 60 MB a second beside the agent, a `put` took 142 ms and 252 ms in two of
six runs of the swap test here. A camera thread that commits itself then drops live frames and leaves
the device idle: with every commit slowed to 200 ms, a 10 fps camera that committed its own counts
dropped 9 of 68-69 frames in 8 s (a frame per commit), through the writer none (`bench/slow_disk.py`).

A camera thread hands its message to `CountWriter` and goes on with the next frame; the writer commits
the messages in the order they came, so each camera's messages keep their order. A write that fails
(the disk full, say) is retried with backoff until it succeeds, so crossing numbers and totals never
skip; the cameras keep counting meanwhile, and once `capacity` messages wait they wait too (memory stays
bounded, the cameras slow to the disk's pace). What a crash loses is what is still waiting: nothing or
a message or two on a healthy disk, more while the disk is slow or failing (`waiting`, in telemetry as
`queue_waiting`).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Sequence

from agent.pipeline import Emit
from agent.topics import CountMessage, CrossingMessage
from agent.totals import CameraTotals

log = logging.getLogger(__name__)

CAPACITY = 1000
"""Messages waiting for the disk, all cameras together, before a camera thread waits too."""
RETRY_S = (0.1, 5.0)
"""First and longest pause between attempts at a write that failed."""
CLOSE_S = 10.0
"""At shutdown, how long the writer may take to store what waits (systemd allows the whole stop 30 s)."""

_Item = tuple[CountMessage, Sequence[CrossingMessage], CameraTotals]


class WriterClosed(RuntimeError):
    """A message came after `CountWriter.close`: it was not queued."""


class CountWriter:
    """Runs `put` (usually `CountOutbox.put`) for every camera in one thread, in the order messages came.

    Call it as the `Emit` of every camera worker; `close()` after the workers stopped writes what is still
    waiting, or gives up on it at its deadline (counted in `lost`, logged once).
    """

    def __init__(self, put: Emit, capacity: int = CAPACITY) -> None:
        self._put = put
        self._queue: queue.Queue[_Item | None] = queue.Queue(maxsize=capacity)
        self._closed = threading.Event()
        self._abandon = threading.Event()
        self.failed_attempts = 0
        self.lost = 0
        self._lost_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="count-writer", daemon=True)
        self._thread.start()

    def __call__(self, message: CountMessage, crossings: Sequence[CrossingMessage], totals: CameraTotals) -> None:
        """Queue one frame's message, crossings and totals for the writer; blocks only while it is full."""
        if self._closed.is_set():
            raise WriterClosed(f"camera {message.camera}: count writer closed; message not queued")
        self._queue.put((message, tuple(crossings), totals))

    @property
    def waiting(self) -> int:
        """Messages handed over and not yet written."""
        return self._queue.qsize()

    def _run(self) -> None:
        while not self._abandon.is_set():
            try:
                item = self._queue.get(timeout=0.5)
            except queue.Empty:
                continue
            if item is None:
                break
            self._write(item)
        while True:  # a camera that raced `close` may have queued behind the end marker: write it too
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is not None:
                self._write(item)

    def _write(self, item: _Item) -> None:
        message, crossings, totals = item
        pause = RETRY_S[0]
        while not self._abandon.is_set():
            try:
                self._put(message, crossings, totals)
                return
            except Exception as exc:  # the writer must outlive a failing disk
                self.failed_attempts += 1
                if self.failed_attempts == 1 or pause == RETRY_S[1]:
                    log.error("camera %s: count message of frame %d not stored (%s); retrying, %d waiting",
                              message.camera, message.frame, exc, self.waiting)
                self._abandon.wait(pause)
                pause = min(pause * 2, RETRY_S[1])
        self._count_lost(1)

    def _count_lost(self, count: int) -> None:
        with self._lost_lock:
            self.lost += count

    def close(self, timeout_s: float) -> bool:
        """Write what is waiting within `timeout_s`, then stop; past it, give the rest up (counted in `lost`,
        logged once). True if everything was written."""
        deadline = time.monotonic() + timeout_s
        self._closed.set()
        try:
            self._queue.put(None, timeout=max(0.0, deadline - time.monotonic()))
        except queue.Full:
            pass
        self._thread.join(max(0.0, deadline - time.monotonic()))
        if self._thread.is_alive():
            self._abandon.set()
            while True:
                try:
                    self._count_lost(self._queue.get_nowait() is not None)
                except queue.Empty:
                    break
            self._thread.join(5.0)
        if self.lost:
            log.error("count writer: %d message(s) not stored after %.0f s at shutdown; their counts are lost",
                      self.lost, timeout_s)
        return self.lost == 0 and not self._thread.is_alive()
