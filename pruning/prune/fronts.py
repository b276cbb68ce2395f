"""The mAP vs latency trade-off: each method's Pareto front, the best variant within a latency budget, the
hybrid targets, and the plot that marks the fronts.

Latency here is a variant's latency on its parent's scale (`Row.implied_ms`: the parent's median p50 over
the bench runs / the variant's within-run speedup), robust to a machine that drifts between runs. A
point is on its method's front when no variant of that method is at least as fast and more accurate.
Fronts are drawn per parent: variants pruned from different parents are not one trade-off.

Where the bench runs are given, "as fast" is judged within the machine's measured noise: two variants
benched in the same runs give one latency ratio per run, and a variant is slower than another only when
a distribution-free confidence interval of the median of those ratios lies wholly above 1 (`ratio_band`).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from math import comb
from pathlib import Path
from typing import Protocol

MAP_NOISE = 0.5
"""mAP points within which two variants count as equally accurate."""
LATENCY_NOISE = 0.02
"""Relative latency within which two variants count as equally fast, where no bench runs pair them."""
CONFIDENCE = 0.9
"""Coverage of `ratio_band`'s interval."""
HYBRID_SPEEDUP, HYBRID_DROP, HYBRID_RATIO = 2.5, 1.0, 0.9


class Scored(Protocol):
    ref: str
    name: str
    method: str
    map50: float | None
    speedup: float
    parent: str | None

    @property
    def implied_ms(self) -> float: ...


Runs = Sequence[Mapping[str, float]]
"""Bench runs: per run, each variant's p50 (ms) by `name@version`."""


@dataclass(frozen=True)
class Band:
    """The median of the per-run latency ratios of two variants benched in the same runs, and an interval
    that holds the true median with at least `confidence`."""

    median: float
    low: float
    high: float
    runs: int
    confidence: float = CONFIDENCE

    def describe(self) -> str:
        return (f"per run {self.median:.2f}, {100 * self.confidence:.0f} % interval {self.low:.2f}-{self.high:.2f} "
                f"over {self.runs} runs")


def _median_rank(n: int, confidence: float) -> int:
    """The largest k with P(Binomial(n, 1/2) < k) <= (1 - confidence) / 2, so that the k-th smallest and
    k-th largest of n samples bracket their median with at least `confidence`; 0 when n is too small."""
    tail, k = 0.0, 0
    while k < n and tail + comb(n, k) / 2 ** n <= (1 - confidence) / 2:
        tail += comb(n, k) / 2 ** n
        k += 1
    return k


def ratio_band(runs: Runs, mine: str, other: str, confidence: float = CONFIDENCE) -> Band | None:
    """`mine`'s p50 over `other`'s in every run that benched both: their median and its order-statistic
    interval (no assumption on the noise's shape); None when too few runs pair them for any interval."""
    ratios = sorted(run[mine] / run[other] for run in runs if mine in run and other in run)
    k = _median_rank(len(ratios), confidence)
    if k == 0:
        return None
    return Band(statistics.median(ratios), ratios[k - 1], ratios[-k], len(ratios), confidence)


def slower(mine: Scored, other: Scored, runs: Runs = ()) -> bool:
    """Whether `mine` is slower than `other` beyond noise: the runs' interval wholly above 1 where the runs
    pair them, else an implied latency more than `LATENCY_NOISE` above."""
    band = ratio_band(runs, mine.ref, other.ref)
    if band is not None:
        return band.low > 1
    return mine.implied_ms > other.implied_ms * (1 + LATENCY_NOISE)


def front(points: Iterable[Scored]) -> list[Scored]:
    """The non-dominated points, fastest first (each is more accurate than every faster one)."""
    ranked = sorted((p for p in points if p.map50 is not None), key=lambda p: (p.implied_ms, -p.map50))
    kept: list[Scored] = []
    for point in ranked:
        if not kept or point.map50 > kept[-1].map50:  # type: ignore[operator]
            kept.append(point)
    return kept


def family(method: str) -> str:
    """The selection a manifest's method label names, without its settings: `hybrid-lw0.5-rows` -> `hybrid`,
    `cluster-16` -> `cluster`, `filter+snap` -> `filter`."""
    return method.split("+")[0].split("-")[0]


def fronts(rows: Sequence[Scored], parent: str, by: Callable[[str], str] = str) -> dict[str, list[Scored]]:
    """Each pruning method's front among the variants of `parent` (`name@version`; itself left out); with
    `by=family`, each selection's front over all its settings."""
    mine = [r for r in rows if r.parent == parent]
    return {m: front(r for r in mine if by(r.method) == m) for m in sorted({by(r.method) for r in mine})}


def best_within(rows: Iterable[Scored], budget_ms: float) -> Scored | None:
    """The most accurate variant no slower than `budget_ms` (ties: the faster)."""
    fitting = [r for r in rows if r.map50 is not None and r.implied_ms <= budget_ms]
    return max(fitting, key=lambda r: (r.map50, -r.implied_ms), default=None)


def uncovered(mine: Sequence[Scored], other: Sequence[Scored], runs: Runs = ()) -> list[Scored]:
    """Points of `other` that no point of `mine` matches: at least as fast (`slower`, judged on `runs`
    where they pair the two) and as accurate (within `MAP_NOISE`)."""
    answers = [(o, at_accuracy(mine, o)) for o in other]
    return [o for o, m in answers if m is None or slower(m, o, runs)]


def at_accuracy(mine: Sequence[Scored], point: Scored) -> Scored | None:
    """The fastest of `mine` at least as accurate as `point` within noise: where `mine`'s front stands at
    `point`'s mAP, so "hybrid latency at equal mAP" compares each point with the hybrid's best answer to
    it, not with a slower, more accurate hybrid point that a faster one already answers."""
    fitting = [m for m in mine if m.map50 >= point.map50 - MAP_NOISE]  # type: ignore[operator]
    return min(fitting, key=lambda m: (m.implied_ms, -m.map50), default=None)  # type: ignore[operator]


def section(rows: Sequence[Scored], budgets: Sequence[float] = (), runs: Runs = ()) -> list[str]:
    """Markdown: fronts per architecture and method, hybrid against the others (latency judged within the
    noise of `runs`, the bench runs), the best within budgets."""
    lines = []
    for parent in sorted(r.ref for r in rows if r.method == "unpruned"):
        by_method = fronts(rows, parent)
        if not by_method:
            continue
        lines += [f"### Variants of {parent}", "", "| method | front (fastest first: variant, ms, mAP@0.5) |",
                  "| --- | --- |"]
        for method, points in by_method.items():
            lines.append(f"| {method} | " + ", ".join(f"{p.ref.split('@')[1]} {p.implied_ms:.2f} ms "
                                                      f"{p.map50:.2f}" for p in points) + " |")
        lines += ["", *_hybrid_lines(rows, parent, fronts(rows, parent, by=family), runs)]
        mine = [r for r in rows if parent in (r.ref, r.parent)]
        for budget in budgets:
            best = best_within(mine, budget)
            lines.append(f"- budget {budget:g} ms: " + (f"{best.ref} ({best.method}, {best.implied_ms:.2f} ms, "
                                                        f"mAP {best.map50:.2f})" if best else "no variant fits"))
        lines.append("")
    return lines


def _hybrid_lines(rows: Sequence[Scored], parent_ref: str, by_family: dict[str, list[Scored]], runs: Runs = ()
                  ) -> list[str]:
    """The issue's hybrid verdicts: the hybrid's front over all its settings against each other selection's
    front over all of theirs (a cluster run with another floor is still the cluster method); "covers"
    within the noise of `runs`, each equal-mAP ratio with its band where the runs pair the two."""
    hybrid = by_family.get("hybrid")
    if hybrid is None:
        return []
    lines = [f"- hybrid front (every hybrid setting): {', '.join(p.ref.split('@')[1] for p in hybrid)}"]
    for method, points in by_family.items():
        if method == "hybrid":
            continue
        missed = uncovered(hybrid, points, runs)
        lines.append(f"- hybrid front covers the {method} front{' within noise' if runs else ''}: " + (
            "yes" if not missed else "no, not " + ", ".join(p.ref for p in missed)))
        for o in points:
            h = at_accuracy(hybrid, o)
            if h is None:
                lines.append(f"  - equal mAP: no hybrid variant within {MAP_NOISE} point of {o.ref} ({o.map50:.2f})")
                continue
            ratio, band = h.implied_ms / o.implied_ms, ratio_band(runs, h.ref, o.ref)
            lines.append(f"  - equal mAP: {h.ref} vs {o.ref}: latency ratio {ratio:.2f} "
                         f"({'met' if ratio <= HYBRID_RATIO else 'missed'} <= {HYBRID_RATIO})"
                         + (f"; {band.describe()}" if band else ""))
    parent = next((r for r in rows if r.ref == parent_ref and r.map50 is not None), None)
    if parent is not None:
        ok = [h for h in hybrid if parent.map50 - h.map50 <= HYBRID_DROP]  # type: ignore[operator]
        best = max(ok, key=lambda r: r.speedup, default=None)
        lines.append(f"- fastest hybrid variant within {HYBRID_DROP} point of {parent.ref}: " + (
            f"{best.ref}, {best.speedup:.2f}x ({'met' if best.speedup >= HYBRID_SPEEDUP else 'missed'} the "
            f"{HYBRID_SPEEDUP}x target)" if best else "none"))
    return lines


STYLES = {"unpruned": ("k", "*"), "filter": ("tab:orange", "s"), "cluster": ("tab:blue", "o"),
          "hybrid": ("tab:green", "D"), "filter+snap": ("tab:red", "v")}


def plot_tradeoff(rows: Sequence[Scored], path: Path) -> Path:
    """mAP@0.5 vs latency, one panel per architecture; each method's front (per parent) drawn as a step
    line through its points (filled), its dominated points hollow."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted({r.name for r in rows})
    fig, axes = plt.subplots(1, len(names), figsize=(6 * len(names), 4.5), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        mine = [r for r in rows if r.name == name and r.map50 is not None]
        parents = [r for r in mine if r.method == "unpruned"]
        for p in parents:
            ax.plot([p.implied_ms], [p.map50], marker="*", color="k", linestyle="none", markersize=11)
            ax.annotate(p.ref.split("@")[1], (p.implied_ms, p.map50), fontsize=7, xytext=(3, 3),
                        textcoords="offset points")
        for p in parents:
            for method, on_front in fronts(mine, p.ref).items():
                color, marker = STYLES.get(method, STYLES.get(family(method), ("tab:gray", "o")))
                rest = [r for r in mine if r.parent == p.ref and r.method == method and r not in on_front]
                label = method if len(parents) == 1 else f"{method} (of {p.ref.split('@')[1]})"
                ax.plot([r.implied_ms for r in on_front], [r.map50 for r in on_front], marker=marker, color=color,
                        label=label, drawstyle="steps-post", markersize=7,
                        linestyle="-" if p is parents[0] else ":")
                ax.plot([r.implied_ms for r in rest], [r.map50 for r in rest], marker=marker, color=color,
                        linestyle="none", markerfacecolor="none", markersize=7)
                for r in [*on_front, *rest]:
                    ax.annotate(r.ref.split("@")[1], (r.implied_ms, r.map50), fontsize=7, xytext=(3, 3),
                                textcoords="offset points")
        ax.set_title(f"{name}: lines = each method's front, hollow = dominated")
        ax.set_xlabel("latency, ms (parent's median bench p50 / within-run speedup; CPU, batch 1)")
        ax.set_ylabel("mAP@0.5 (%)")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
