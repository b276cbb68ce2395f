"""Finding latency steps in a latency-vs-filters curve and the period they repeat with.

A step is a rise between two neighbouring counts that is larger than both the measurement's noise and
what the curve's smooth slope explains. Nothing here assumes a period: it is the most common spacing
between the steps found (ties go to the smaller spacing), checked against how many steps it explains.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import reduce
from math import gcd

import numpy as np

Point = tuple[int, float]
"""(kept filters, latency ms)."""


@dataclass(frozen=True)
class StepRule:
    """When a change between two measured counts counts as a step.

    Attributes:
        k: multiples of the noise of a difference (of two counts' latencies) a change must exceed.
        relative: fraction of the latency a change must also exceed (guards a near-zero noise).
    """

    k: float = 3.5
    relative: float = 0.005

    def threshold(self, noise_ms: float, slope_ms: float, width: int, base_ms: float) -> float:
        return self.k * noise_ms + 2.0 * slope_ms * width + self.relative * base_ms


def _fit(points: list[Point]) -> tuple[float, float | None]:
    """Smooth slope (ms per filter) and scatter of the changes between neighbouring counts, off the steps.

    Median slope, then the gaps whose change deviates by more than 3 robust sd (the steps, a minority:
    a quarter of the gaps at stride 4 with a period of 16) are set aside and both are estimated again
    from the rest: slope as the median, scatter as 1.4826 x the median absolute deviation.
    """
    pts = sorted(points)
    if len(pts) < 2:
        return 0.0, None
    widths = np.array([c2 - c1 for (c1, _), (c2, _) in zip(pts, pts[1:], strict=False)], np.float64)
    changes = np.array([t2 - t1 for (_, t1), (_, t2) in zip(pts, pts[1:], strict=False)], np.float64)
    slopes = changes / widths
    residuals = changes - np.median(slopes) * widths
    scale = 1.4826 * np.median(np.abs(residuals - np.median(residuals)))
    keep = np.abs(residuals - np.median(residuals)) <= 3 * scale if scale > 0 else np.ones(len(widths), bool)
    slope = float(np.median(slopes[keep]))
    scatter = 1.4826 * float(np.median(np.abs(changes[keep] - slope * widths[keep])))
    return max(slope, 0.0), (scatter if len(pts) >= 7 else None)


def smooth_slope(points: list[Point]) -> float:
    """The curve's slope between steps (ms per filter), never negative."""
    return _fit(points)[0]


def difference_noise(points: list[Point]) -> float | None:
    """Scatter (sd) of the changes between neighbouring measured counts, off the steps.

    This is the null distribution a step is tested against, systematic count-to-count wobble
    included. None with fewer than 6 gaps.
    """
    return _fit(points)[1]


def _changes(points: list[Point], noise_ms: float, rule: StepRule) -> list[tuple[int, int, float, bool]]:
    """(lo, hi, change ms, exceeds threshold) for every pair of neighbouring measured counts."""
    pts = sorted(points)
    slope = smooth_slope(pts)
    out = []
    for (c1, t1), (c2, t2) in zip(pts, pts[1:], strict=False):
        limit = rule.threshold(noise_ms, slope, c2 - c1, min(t1, t2))
        out.append((c1, c2, t2 - t1, abs(t2 - t1) > limit))
    return out


def intervals_to_refine(points: list[Point], noise_ms: float, rule: StepRule) -> list[tuple[int, int]]:
    """Gaps between measured counts that hide a change too large to be smooth (either direction)."""
    return [(lo, hi) for lo, hi, _, big in _changes(points, noise_ms, rule) if big and hi - lo > 1]


def step_boundaries(points: list[Point], noise_ms: float, rule: StepRule) -> list[int]:
    """Counts c where latency rises in a step from c to c + 1 (both measured).

    A step smeared over two neighbouring gaps by noise (c and c + 1 both flagged) counts once, at the
    larger rise.
    """
    rises = {lo: change for lo, hi, change, big in _changes(points, noise_ms, rule)
             if big and hi - lo == 1 and change > 0}
    return sorted(c for c in rises if rises.get(c - 1, -1.0) < rises[c] >= rises.get(c + 1, -1.0))


def detect_period(boundaries: list[int]) -> tuple[int | None, float]:
    """The step period and the fraction of boundaries that are multiples of it.

    The most common spacing between consecutive boundaries if it occurs at least twice and explains
    half of them; else their greatest common divisor if above 1 (boundaries all on multiples of it,
    some steps missed); else None. One boundary alone gives no period.
    """
    bounds = sorted(set(b for b in boundaries if b > 0))
    if len(bounds) < 2:
        return None, 0.0
    spacings = Counter(b - a for a, b in zip(bounds, bounds[1:], strict=False))
    period = min(spacings, key=lambda s: (-spacings[s], s))
    aligned = sum(1 for b in bounds if b % period == 0) / len(bounds)
    if spacings[period] >= 2 and aligned >= 0.5:
        return period, aligned
    divisor = reduce(gcd, bounds)
    return (divisor, 1.0) if divisor > 1 else (None, 0.0)


def common_period(periods: list[int | None]) -> int | None:
    """The period most layers agree on (ties go to the smaller), None without any."""
    found = Counter(p for p in periods if p)
    return min(found, key=lambda p: (-found[p], p)) if found else None
