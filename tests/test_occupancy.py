"""Occupancy smoothing: a flickering count stays steady, a real change shows within the window."""

from __future__ import annotations

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
