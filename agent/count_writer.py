"""Queueing counts off the camera threads: one writer thread runs `CountOutbox.put` for every camera.

`CountOutbox.put` commits with `synchronous=FULL`, so each call waits for the disk: about a millisecond
on this project's VM, but a cheap PC's eMMC or SD card, a disk shared with other programs, or a journal
flushing someone else's data can hold a commit for longer than a 10 fps camera's frame period. Under a
`dd` from /dev/urandom writing 60 MB a second beside the agent, a `put` took 142 ms and 252 ms in two of
six runs of the swap test here.
A camera thread that commits itself then drops live frames and leaves the device idle: with every commit
slowed to 200 ms, a 10 fps camera dropped 10 of 78 frames (`tests/test_count_writer.py`, run against the
camera-thread commit); through the writer, none.

A camera thread hands its message to `CountWriter` and goes on with the next frame; the writer commits
the messages in the order they came, so each camera's messages keep their order. A crash loses no more
than it did: what a camera counted during the commit in progress, as a camera thread waiting for that
commit would not have counted the frames it dropped meanwhile. The hand-over blocks only when `capacity`
messages are waiting (a disk that has stopped answering), so memory stays bounded and the cameras slow
to the disk's pace.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Sequence

from agent.pipeline import Emit
from agent.topics import CountMessage, CrossingMessage
from agent.totals import CameraTotals

log = logging.getLogger(__name__)

CAPACITY = 1000
"""Messages waiting for the disk before a camera thread waits too (about 100 s of one camera's counts)."""

_Item = tuple[CountMessage, Sequence[CrossingMessage], CameraTotals]


class WriterClosed(RuntimeError):
    """A message came after `CountWriter.close`: it was not queued."""


class CountWriter:
    """Runs `put` (usually `CountOutbox.put`) for every camera in one thread, in the order messages came.

    Call it as the `Emit` of every camera worker; `close()` after the workers stopped writes what is still
    waiting. A message `put` refuses (the disk full, say) is logged and counted in `failed`; the totals
    of the messages after it still carry its crossings, since totals are cumulative.
    """

    def __init__(self, put: Emit, capacity: int = CAPACITY) -> None:
        self._put = put
        self._queue: queue.Queue[_Item | None] = queue.Queue(maxsize=capacity)
        self._closed = threading.Event()
        self.failed = 0
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
        while (item := self._queue.get()) is not None:
            message, crossings, totals = item
            try:
                self._put(message, crossings, totals)
            except Exception as exc:  # the writer must outlive one bad write
                self.failed += 1
                log.error("camera %s: count message of frame %d (%d crossings) not queued: %s", message.camera,
                          message.frame, len(crossings), exc)

    def close(self, timeout_s: float = 30.0) -> bool:
        """Write what is waiting, then stop; True if everything was written within `timeout_s`."""
        self._closed.set()
        try:
            self._queue.put(None, timeout=timeout_s)
        except queue.Full:
            pass
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            log.warning("count writer: %d message(s) still waiting for the disk after %.0f s", self.waiting, timeout_s)
            return False
        return True
