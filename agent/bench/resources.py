"""CPU use and peak resident memory of this process while a measurement runs."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import psutil


@dataclass(frozen=True)
class ResourceUse:
    cpu_percent: float
    """CPU time over wall time, x100 (100 = one core busy)."""
    peak_rss_mb: float


class ResourceMonitor:
    """Samples RSS on a background thread; CPU from the process's CPU times at start and stop."""

    def __init__(self, interval_s: float = 0.02) -> None:
        self.interval_s = interval_s
        self._process = psutil.Process()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="bench-rss", daemon=True)
        self._peak = 0
        self._cpu0 = 0.0
        self._t0 = 0.0

    def _cpu(self) -> float:
        times = self._process.cpu_times()
        return times.user + times.system

    def _sample(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._peak = max(self._peak, self._process.memory_info().rss)

    def __enter__(self) -> ResourceMonitor:
        self._peak = self._process.memory_info().rss
        self._cpu0, self._t0 = self._cpu(), time.perf_counter()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._peak = max(self._peak, self._process.memory_info().rss)
        self.use = ResourceUse(
            cpu_percent=round(100.0 * (self._cpu() - self._cpu0) / max(time.perf_counter() - self._t0, 1e-9), 1),
            peak_rss_mb=round(self._peak / 2**20, 1),
        )
