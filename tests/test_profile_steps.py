"""Step detection on synthetic latency curves: no hardware, exact answers."""

from __future__ import annotations

import numpy as np
import pytest

from agent.profile.steps import (
    StepRule,
    common_period,
    detect_period,
    difference_noise,
    intervals_to_refine,
    smooth_slope,
    step_boundaries,
)


def staircase(top: int, period: int, step_ms: float = 0.25, slope_ms: float = 0.004, noise_ms: float = 0.0,
              seed: int = 0) -> list[tuple[int, float]]:
    rng = np.random.default_rng(seed)
    return [(c, 0.5 + step_ms * ((c - 1) // period) + slope_ms * c + rng.normal(0, noise_ms))
            for c in range(1, top + 1)]


@pytest.mark.parametrize("period", [8, 16, 32])
def test_boundaries_and_period_of_a_staircase(period: int) -> None:
    points = staircase(96, period, noise_ms=0.003)
    bounds = step_boundaries(points, 0.003, StepRule())
    assert bounds == list(range(period, 96, period))
    assert detect_period(bounds) == (period, 1.0)


def test_smooth_curve_has_no_steps() -> None:
    points = [(c, 1.0 + 0.01 * c) for c in range(1, 65)]
    assert step_boundaries(points, 0.002, StepRule()) == []
    assert smooth_slope(points) == pytest.approx(0.01)


def test_strided_pass_flags_exactly_the_gaps_holding_a_step() -> None:
    points = [p for p in staircase(64, 16) if p[0] % 4 == 0 or p[0] == 1]
    gaps = intervals_to_refine(points, 0.002, StepRule())
    assert gaps == [(16, 20), (32, 36), (48, 52)]


@pytest.mark.parametrize(
    ("bounds", "period", "aligned"),
    [([16, 32, 37, 48, 64], 16, 0.8), ([16, 48, 64], 16, 1.0), ([48, 64], 16, 1.0), ([48], None, 0.0),
     ([], None, 0.0), ([8, 16, 24, 32], 8, 1.0), ([96, 256, 320, 528, 576], 16, 1.0),
     ([64, 576, 577, 721, 959], None, 0.0)],
)
def test_detect_period_tolerates_spurious_and_missing_steps(bounds: list[int], period: int | None,
                                                            aligned: float) -> None:
    assert detect_period(bounds) == (period, aligned)


def test_a_step_smeared_over_two_gaps_counts_once() -> None:
    points = [(c, 1.0 + 0.3 * (c > 16) + 0.1 * (c > 17)) for c in range(10, 24)]
    assert step_boundaries(points, 0.001, StepRule()) == [16]


def test_common_period_takes_the_majority() -> None:
    assert common_period([16, 16, None, 8, 16, 48]) == 16
    assert common_period([None]) is None


def test_difference_noise_ignores_the_steps() -> None:
    points = staircase(400, 16, noise_ms=0.003, seed=3)
    estimate = difference_noise(points)
    assert estimate == pytest.approx(0.003 * 2 ** 0.5, rel=0.25)  # sd of a difference of two noisy values
    assert difference_noise(points[:5]) is None
