"""Pareto fronts per method, the best variant within a budget and the hybrid verdicts, from hand-made rows;
the report command's new options and the quantize command parse."""

from __future__ import annotations

from math import comb
from pathlib import Path

import pytest

from pruning.prune.fronts import (
    _median_rank,
    at_accuracy,
    best_within,
    family,
    front,
    fronts,
    plot_tradeoff,
    ratio_band,
    section,
    slower,
    uncovered,
)
from pruning.prune.report import Row


def row(version: str, method: str, ms: float, map50: float) -> Row:
    """A variant of `m` at `ms` on its parent's scale (parent 10 ms) and `map50`."""
    if method == "unpruned":
        return Row(f"m@{version}", "m", method, "-", ms, map50, None, None, None)
    return Row(f"m@{version}", "m", method, "-", ms * 1.3, map50, None, None, None, speedup=10.0 / ms,
               parent="m@1", parent_p50=10.0)


def rows() -> list[Row]:
    return [row("1", "unpruned", 10.0, 90.0),
            row("cp-a", "cluster", 6.0, 89.0), row("cp-b", "cluster", 4.0, 88.0), row("cp-c", "cluster", 5.0, 87.0),
            row("fp-a", "filter", 5.5, 89.5), row("fp-b", "filter", 4.5, 88.1),
            row("hp-a", "hybrid", 5.0, 89.6), row("hp-b", "hybrid", 3.8, 89.1), row("hp-c", "hybrid", 3.5, 87.0)]


def test_front_keeps_the_points_no_faster_variant_beats() -> None:
    by_method = fronts(rows(), "m@1")
    assert set(by_method) == {"cluster", "filter", "hybrid"}  # the parent is no method's front
    other = Row("m@cp-e1", "m", "cluster", "-", 1.0, 99.0, None, None, None, speedup=9.0, parent="m@e1")
    assert other not in fronts([*rows(), other], "m@1")["cluster"]  # another parent's variant: another trade-off
    assert [r.ref for r in by_method["cluster"]] == ["m@cp-b", "m@cp-a"]  # cp-c: slower than cp-b, less accurate
    assert [r.ref for r in by_method["hybrid"]] == ["m@hp-c", "m@hp-b", "m@hp-a"]
    assert front([row("x", "filter", 5.0, 80.0), row("y", "filter", 5.0, 81.0)])[0].ref == "m@y"


@pytest.mark.parametrize(("budget", "expected"), [(3.0, None), (3.6, "m@hp-c"), (4.6, "m@hp-b"), (5.2, "m@hp-a"),
                                                  (20.0, "m@1")])
def test_best_within_a_budget(budget: float, expected: str | None) -> None:
    best = best_within(rows(), budget)
    assert (best.ref if best else None) == expected


def test_hybrid_front_against_the_others() -> None:
    by_method = fronts(rows(), "m@1")
    assert uncovered(by_method["hybrid"], by_method["cluster"]) == []
    slow_but_best = [row("fp-z", "filter", 9.0, 95.0)]
    assert [r.ref for r in uncovered(by_method["hybrid"], slow_but_best)] == ["m@fp-z"]
    text = "\n".join(section(rows(), budgets=(4.6,)))
    assert "| hybrid | hp-c 3.50 ms 87.00, hp-b 3.80 ms 89.10, hp-a 5.00 ms 89.60 |" in text
    assert "- hybrid front covers the cluster front: yes" in text
    assert "equal mAP: m@hp-b vs m@cp-a: latency ratio 0.63 (met <= 0.9)" in text
    # each other point against the hybrid's fastest answer at its mAP, not every hybrid point within 0.5
    assert "m@hp-a vs m@fp-a" not in text and "equal mAP: m@hp-b vs m@fp-a: latency ratio 0.69" in text
    assert "equal mAP: m@hp-b vs m@fp-b: latency ratio 0.84 (met <= 0.9)" in text
    assert at_accuracy(by_method["hybrid"], row("fp-y", "filter", 2.0, 89.0)).ref == "m@hp-b"  # type: ignore[union-attr]
    assert at_accuracy(by_method["hybrid"], row("fp-x", "filter", 9.0, 95.0)) is None
    assert "fastest hybrid variant within 1.0 point of m@1: m@hp-b, 2.63x (met the 2.5x target)" in text
    assert "- budget 4.6 ms: m@hp-b (hybrid, 3.80 ms, mAP 89.10)" in text


@pytest.mark.parametrize(("method", "selection"), [("hybrid", "hybrid"), ("hybrid-lw0.5to1", "hybrid"),
                                                   ("hybrid-loss-lw1", "hybrid"), ("hybrid-rows+snap", "hybrid"),
                                                   ("cluster-16", "cluster"), ("filter+snap", "filter")])
def test_family_is_the_selection_without_its_settings(method: str, selection: str) -> None:
    assert family(method) == selection


def test_hybrid_verdicts_pool_every_setting_of_a_selection() -> None:
    mixed = [*rows(), row("hl-a", "hybrid-lw0.5", 3.0, 89.2), row("cp2-a", "cluster-16", 3.2, 89.0)]
    text = "\n".join(section(mixed))
    assert "| hybrid-lw0.5 | hl-a 3.00 ms 89.20 |" in text  # the table keeps each label's own front
    assert "- hybrid front (every hybrid setting): hl-a, hp-a" in text  # hl-a beats hp-b
    assert "hybrid front covers the hybrid-lw0.5 front" not in text  # no verdict of a setting against another
    # cp2-a (cluster, another setting) joins the cluster front; hl-a answers it, where hp-b alone would not
    assert "- hybrid front covers the cluster front: yes" in text
    assert "equal mAP: m@hl-a vs m@cp2-a: latency ratio 0.94 (missed <= 0.9)" in text


@pytest.mark.parametrize(("n", "k"), [(4, 0), (5, 1), (6, 1), (10, 2), (18, 6), (50, 19)])
def test_median_interval_ranks_cover_at_least_the_confidence(n: int, k: int) -> None:
    assert _median_rank(n, 0.9) == k
    if k:  # [x_(k), x_(n-k+1)] misses the median only if k or more samples fall on one side of it
        outside = 2 * sum(comb(n, i) for i in range(k)) / 2 ** n
        assert outside <= 0.1 < outside + 2 * comb(n, k) / 2 ** n


def paired(mine: str, other: str, ratios: list[float]) -> list[dict[str, float]]:
    """Bench runs in which `other` read 2 ms and `mine` `ratio` times that, plus one run without `mine`."""
    return [*({other: 2.0, mine: 2.0 * r} for r in ratios), {other: 2.0}]


def test_ratio_band_pairs_only_runs_that_bench_both() -> None:
    band = ratio_band(paired("m@a", "m@b", [1.3, 0.9, 1.1, 1.0, 1.2, 0.8]), "m@a", "m@b")
    assert band is not None and band.runs == 6
    assert (band.median, band.low, band.high) == pytest.approx((1.05, 0.8, 1.3))
    assert "per run 1.05, 90 % interval 0.80-1.30 over 6 runs" == band.describe()
    assert ratio_band(paired("m@a", "m@b", [1.1] * 4), "m@a", "m@b") is None  # too few runs for any interval


@pytest.mark.parametrize(("ratios", "is_slower"), [
    ([0.85, 1.3, 1.0, 1.2, 0.95, 1.15, 1.1, 0.9], False),  # 5 % slower by the median, inside the noise
    ([1.04, 1.05, 1.06, 1.05, 1.04, 1.06, 1.05, 1.05], True),  # 5 % slower in every run: beyond it
    ([], True),  # never benched together: the implied latencies, 5 % apart > LATENCY_NOISE
])
def test_slower_is_judged_within_the_runs_noise(ratios: list[float], is_slower: bool) -> None:
    mine, other = row("hp-x", "hybrid", 4.2, 88.0), row("cp-x", "cluster", 4.0, 88.0)
    runs = paired(mine.ref, other.ref, ratios)
    assert slower(mine, other, runs) is is_slower
    assert (uncovered([mine], [other], runs) == [other]) is is_slower
    text = "\n".join(section([row("1", "unpruned", 10.0, 90.0), mine, other], runs=runs))
    assert f"- hybrid front covers the cluster front within noise: {'no, not m@cp-x' if is_slower else 'yes'}" in text
    assert ("over 8 runs" in text) is bool(ratios)


def test_plot_marks_fronts(tmp_path: Path) -> None:
    assert plot_tradeoff(rows(), tmp_path / "fronts.png").stat().st_size > 1000


def test_cli_parses_report_budgets_specs_and_quantize() -> None:
    from pruning.cli import _parser

    args = _parser().parse_args(["report", "--bench", "b.json", "--spec", "m=s.json", "--budget-ms", "2.5",
                                 "--budget-ms", "3"])
    assert args.budget_ms == [2.5, 3.0] and args.spec == ["m=s.json"]
    args = _parser().parse_args(["quantize", "m@1", "--version", "1-int8", "--data", "d"])
    assert callable(args.run) and args.subset_size == 300 and args.calibration_split == "train"
    args = _parser().parse_args(["prune", "--checkpoint", "a.pt", "--data", "d", "--out", "o", "--method", "hybrid",
                                 "--snap-final"])
    assert args.method == "hybrid" and args.snap_final is True
