"""Liveness of the processing loop, as systemd's watchdog and the stall exit need it."""

from __future__ import annotations

import time
from typing import Protocol


class _Reader(Protocol):
    frames_read: int


class _Worker(Protocol):
    frames_processed: int
    reader: _Reader


class Liveness:
    """What the workers did since the last check.

    'progress': frames were inferred; 'idle': nothing to infer (no camera delivers frames);
    'behind': frames arrive but none was inferred for `BEHIND_S`; 'stalled': the same for `stall_s`.
    """

    BEHIND_S = 5.0

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.announced = False
        self._processed = 0
        self._read_at_progress = 0
        self._last_progress = time.monotonic()
        self._last_watchdog = 0.0

    def check(self, workers: list[_Worker], stall_s: float) -> str:
        processed = sum(w.frames_processed for w in workers)
        read = sum(w.reader.frames_read for w in workers)
        now = time.monotonic()
        if processed != self._processed:
            self._processed, self._last_progress, self._read_at_progress = processed, now, read
            return "progress"
        if read == self._read_at_progress:
            return "idle"
        waited = now - self._last_progress
        return "stalled" if waited > stall_s else "behind" if waited > self.BEHIND_S else "progress"

    def watchdog_due(self, interval_s: float) -> bool:
        now = time.monotonic()
        if now - self._last_watchdog >= interval_s:
            self._last_watchdog = now
            return True
        return False
