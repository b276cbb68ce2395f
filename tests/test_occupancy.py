"""Occupancy smoothing: a flickering count stays steady, a real change shows within the window."""

from __future__ import annotations

import math

import numpy as np
import pytest

from agent.occupancy import OccupancySmoother, SmoothingSettings

FPS = 10


def _publish(counts: list[int], settings: SmoothingSettings) -> list[int]:
    smoother = OccupancySmoother(settings)
    return [smoother.update(i / FPS, c) for i, c in enumerate(counts)]


def test_a_flickering_count_is_published_steady() -> None:
    counts = [5, 4, 5, 6, 5, 5, 4, 5, 6, 5] * 6  # one person missed or doubled every few frames
    published = _publish(counts, SmoothingSettings(window_s=1.5, hold_s=0.5))
    assert set(published) == {5}


def test_a_real_change_shows_within_the_window_plus_hold() -> None:
    counts = [3] * 30 + [5] * 30
    published = _publish(counts, SmoothingSettings(window_s=1.5, hold_s=0.5))
    first = published.index(5)
    assert published[:30] == [3] * 30
    assert 30 < first <= 30 + (1.5 / 2 + 0.5) * FPS + 1
    assert published[first:] == [5] * (60 - first)


@pytest.mark.parametrize("statistic", ["median", "mean", "max"])
def test_statistics_agree_on_a_constant_count(statistic: str) -> None:
    assert set(_publish([4] * 20, SmoothingSettings(statistic=statistic))) == {4}


@pytest.mark.parametrize("statistic", ["median", "mean", "max"])
@pytest.mark.parametrize("seed", range(4))
def test_the_window_statistic_is_numpys_over_the_window(statistic: str, seed: int) -> None:
    """The histogram kept beside the window gives what NumPy gives over the window's counts, rounded half up."""
    rng = np.random.default_rng(seed)
    smoother = OccupancySmoother(SmoothingSettings(window_s=0.75, statistic=statistic))
    ts = np.cumsum(rng.uniform(0.01, 0.2, 400))  # uneven frame gaps: the window holds 4 to 60 frames
    counts = rng.integers(0, 12, 400) if seed % 2 else rng.choice([3, 4, 9], 400)
    reducer = {"median": np.median, "mean": np.mean, "max": np.max}[statistic]
    for i, (t, count) in enumerate(zip(ts, counts, strict=True)):
        smoother.update(float(t), int(count))
        window = counts[(ts >= t - 0.75) & (np.arange(400) <= i)]
        assert smoother.statistic() == math.floor(float(reducer(window)) + 0.5)


def test_last_publishes_raw_counts() -> None:
    counts = [1, 2, 3, 2, 1]
    assert _publish(counts, SmoothingSettings(statistic="last")) == counts


def test_reset_forgets_the_window() -> None:
    smoother = OccupancySmoother(SmoothingSettings(window_s=5, hold_s=5))
    for i in range(20):
        smoother.update(i / FPS, 7)
    smoother.reset()
    assert smoother.update(2.1, 2) == 2


def test_unknown_statistic_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown statistic"):
        SmoothingSettings(statistic="mode")
