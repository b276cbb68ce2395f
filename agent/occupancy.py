"""Occupancy smoothing: the count a dashboard sees, steady while the room is, quick when it changes.

A detector's per-frame count flickers: a person is missed on one frame, found on the next, and a
published raw count changes several times a second. `OccupancySmoother` publishes a robust statistic of
the raw counts over the last `window_s` seconds (the median by default), and changes the published value
only when that statistic has differed from it for `hold_s` seconds, so one noisy window does not flip it.
A real change shows after about half the window plus the hold.

The window keeps a histogram of its counts beside them, so the statistic costs a walk over the few distinct
counts, not a sort of every frame in the window: the agent takes it once per frame of every camera.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

STATISTICS = ("median", "mean", "max", "last")
"""What is taken of a window's raw counts; `last` turns smoothing off."""


@dataclass(frozen=True)
class SmoothingSettings:
    """Attributes:
        window_s: Length of the window of raw counts the statistic is taken over.
        statistic: One of `STATISTICS`; the median ignores single-frame misses and ghosts.
        hold_s: How long the statistic must differ from the published value before it is published.
    """

    window_s: float = 1.5
    statistic: str = "median"
    hold_s: float = 0.0

    def __post_init__(self) -> None:
        if self.statistic not in STATISTICS:
            raise ValueError(f"unknown statistic {self.statistic!r} (known: {', '.join(STATISTICS)})")
        if self.window_s < 0 or self.hold_s < 0:
            raise ValueError("window_s and hold_s must be >= 0")


class OccupancySmoother:
    """Raw per-frame counts in, published occupancy out; call `update()` once per frame, in time order."""

    def __init__(self, settings: SmoothingSettings | None = None) -> None:
        self.settings = settings or SmoothingSettings()
        self._window: deque[tuple[float, int]] = deque()
        self._histogram: dict[int, int] = {}  # count -> how many frames of the window have it
        self._sum = 0
        self._published: int | None = None
        self._differs_since: float | None = None

    @property
    def published(self) -> int | None:
        """The current published occupancy (None before the first frame)."""
        return self._published

    def reset(self) -> None:
        self._window.clear()
        self._histogram.clear()
        self._sum = 0
        self._published = None
        self._differs_since = None

    def statistic(self) -> int:
        """The window's statistic, rounded half up (an even window split 4/5 reads 5)."""
        kind = self.settings.statistic
        if kind == "last":
            return self._window[-1][1]
        if kind == "max":
            return max(self._histogram)
        value = self._sum / len(self._window) if kind == "mean" else self._median()
        return int(math.floor(value + 0.5))

    def _median(self) -> float:
        """The middle count, or the mean of the two middle counts of an even window."""
        n = len(self._window)
        low_rank, high_rank = (n - 1) // 2, n // 2
        seen, low = 0, None
        for count in sorted(self._histogram):
            seen += self._histogram[count]
            if low is None and seen > low_rank:
                low = count
            if seen > high_rank:
                assert low is not None  # low_rank <= high_rank
                return (low + count) / 2
        raise AssertionError("the histogram holds every count of the window")

    def _add(self, ts: float, raw_count: int) -> None:
        self._window.append((ts, raw_count))
        self._histogram[raw_count] = self._histogram.get(raw_count, 0) + 1
        self._sum += raw_count

    def _drop_oldest(self) -> None:
        _, count = self._window.popleft()
        self._sum -= count
        if self._histogram[count] == 1:
            del self._histogram[count]
        else:
            self._histogram[count] -= 1

    def update(self, ts: float, raw_count: int) -> int:
        """Add the raw count of the frame at `ts` (seconds); returns the occupancy to publish."""
        self._add(ts, raw_count)
        while self._window[0][0] < ts - self.settings.window_s:
            self._drop_oldest()
        current = self.statistic()
        if self._published is None or self.settings.statistic == "last":
            self._published = current
        elif current == self._published:
            self._differs_since = None
        elif self._differs_since is None:
            self._differs_since = ts
        if self._differs_since is not None and ts - self._differs_since >= self.settings.hold_s:
            self._published, self._differs_since = current, None
        return self._published
