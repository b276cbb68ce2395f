"""The pruning report's table, target verdicts and plots from hand-made rows."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from models.lut import CalibrationPoint, LutCalibration
from models.manifest import CountingFigures
from pruning.prune.report import (
    Row,
    layer_table,
    lut_check,
    median_latency,
    median_speedup,
    paced_runs,
    plot_layers,
    plot_tradeoff,
    scale_note,
    table,
    verdicts,
)
from tests.test_prune_selection import hand_lut, layer_lut
from tests.test_timing import tiny_ir


def rows() -> list[Row]:
    base = Row("m@1", "m", "unpruned", "-", 10.0, 80.0, 0.5, 2e9, 4_000_000)
    cp = Row("m@cp-2x", "m", "cluster", "2.0x", 5.0, 79.5, 0.6, 1e9, 2_000_000, lut_speedup=1.8,
             widths={"a": 32}, original={"a": 64}, speedup=2.0, lut_ms=10.0 / 1.8, parent="m@1")
    fp = Row("m@fp-2x", "m", "filter", "2.0x", 8.0, 79.2, 0.7, 1e9, 2_000_000, speedup=1.25, parent="m@1")
    return [base, cp, fp]


def test_variants_are_judged_against_their_own_parent() -> None:
    early = Row("m@e1", "m", "unpruned", "-", 10.0, 70.0, 0.5, 2e9, 4_000_000)
    other = Row("m@cp-e1", "m", "cluster", "2.0x", 5.0, 69.5, 0.6, 1e9, 2_000_000, speedup=2.0, parent="m@e1")
    text = "\n".join(verdicts([*rows(), early, other]))
    assert "(parent m@1, mAP 80.00): fastest cluster variant within 1.0 point of mAP: m@cp-2x" in text
    assert "(parent m@e1, mAP 70.00): fastest cluster variant within 1.0 point of mAP: m@cp-e1" in text
    assert "m@cp-e1 vs m@fp-2x" not in text


def test_verdicts_judge_the_three_targets() -> None:
    text = "\n".join(verdicts(rows()))
    assert "m@cp-2x, 2.00x (met the 1.8x target)" in text and "parent m@1" in text
    assert "m@cp-2x vs m@fp-2x: latency ratio 0.62 (met <= 0.9)" in text
    runs = [{"m@cp-2x": 5.0 * r, "m@fp-2x": 8.0} for r in (1.0, 1.1, 0.9, 1.05, 0.95)]
    assert "latency ratio 0.62 (met <= 0.9); per run 0.62, 90 % interval 0.56-0.69 over 5 runs" in "\n".join(
        verdicts(rows(), runs))
    assert "LUT estimate m@cp-2x: 5.56 ms vs 5.00 ms measured (+11 %, outside 10 %)" in text


def test_several_bench_runs_give_medians_and_within_run_speedups() -> None:
    runs = [{"m@1": 10.0, "m@cp": 5.0}, {"m@1": 20.0, "m@cp": 8.0}, {"m@1": 12.0, "m@cp": 6.0}, {"m@1": 9.0}]
    assert median_latency(runs, "m@1") == 11.0 and median_latency(runs, "m@cp") == 6.0
    assert median_speedup(runs, "m@1", "m@cp") == 2.0  # ratios 2.0, 2.5, 2.0; the run without m@cp ignored


def test_paced_speedups_come_from_the_runs_that_timed_them() -> None:
    def result(model: str, p50: float, paced: float | None) -> SimpleNamespace:
        return SimpleNamespace(model=model, device="CPU", latency=SimpleNamespace(p50_ms=p50), paced_p50_ms=paced)

    reports = [SimpleNamespace(results=[result("m@1", 10.0, 14.0), result("m@cp", 5.0, 10.0)]),
               SimpleNamespace(results=[result("m@1", 12.0, None), result("m@cp", 6.0, None)])]
    assert paced_runs(reports) == [{"m@1": 14.0, "m@cp": 10.0}, {}]  # type: ignore[arg-type]
    assert median_speedup(paced_runs(reports), "m@1", "m@cp") == 1.4  # type: ignore[arg-type]


def test_table_and_plots(tmp_path: Path) -> None:
    lines = table(rows())
    assert lines[2].startswith("| m@1 | unpruned") and len(lines) == 5
    assert "| m@cp-2x | cluster | 2.0x | 5.00 | 2.00x | - | 79.50 |" in "\n".join(lines)
    paced = rows()
    paced[1].paced_speedup = 1.4
    assert "| m@cp-2x | cluster | 2.0x | 5.00 | 2.00x | 1.40x | 79.50 |" in "\n".join(table(paced))
    assert "| 0.600 | - | 1.00 |" in "\n".join(lines)  # no hand-label counts recorded: a dash
    assert plot_tradeoff(rows(), tmp_path / "r.png").stat().st_size > 1000
    lut = hand_lut([layer_lut("a", 8, 64, {16: 1.0, 32: 1.5, 64: 3.0}, [32])])
    assert "| a | 64 | 32 | 3.000 | 1.500 |" in "\n".join(layer_table(rows()[1], lut))
    assert plot_layers(rows()[1], lut, tmp_path / "l.png").stat().st_size > 1000


@pytest.mark.parametrize(("recall", "shown"), [(0.8333, "| 0.542, in/out 0.83 |"), (None, "| 0.542 |")])
def test_table_shows_the_counts_on_hand_labels_where_recorded(recall: float | None, shown: str) -> None:
    counted = rows()
    counted[1].hand_counts = CountingFigures(labels="labels.json", frames="test part", count_mae=0.5417,
                                             crossings_recall=recall)
    assert f"| 79.50 | 0.600 {shown} 1.00 |" in "\n".join(table(counted))


def test_cli_parses_the_pruning_commands() -> None:
    from pruning.cli import _parser

    for argv in (["prune", "--checkpoint", "a.pt", "--data", "d", "--out", "o", "--snapshots", "1.2,1.5"],
                 ["variant", "--run", "r", "--name", "m", "--version", "cp-1.5x"],
                 ["report", "--bench", "b.json"],
                 ["calibrate-lut", "--lut", "l.json", "--checkpoint", "p.pt", "--spec", "s.json", "--out", "o.json"]):
        args = _parser().parse_args(argv)
        assert callable(args.run), argv
    assert _parser().parse_args(["variant", "--run", "r", "--name", "m", "--version", "v"]).run_dir == Path("r")


@pytest.mark.parametrize("calibrated", [False, True])
def test_the_note_says_whether_the_savings_are_calibrated(calibrated: bool) -> None:
    lut = hand_lut([layer_lut("a", 8, 64, {1: 0.1, 64: 1.0}, [])])
    if calibrated:
        lut = lut.model_copy(update={"calibration": LutCalibration(
            parent="parent.pt", points=[CalibrationPoint(keep=0.5, lut_fraction=0.4, measured_fraction=0.46)],
            rounds=1, runs=1, threads=1)})
    note = scale_note([], {"m": lut})[0]
    assert ("scaled by 1.150, what whole uniformly pruned copies of parent.pt saved" in note) == calibrated


def test_lut_error_is_judged_on_the_within_run_speedup() -> None:
    """A variant benched in a slow run has a high median p50; its speedup, taken within runs, is not
    fooled, and the LUT estimate is compared with parent p50 / speedup."""
    cp = Row("m@cp", "m", "cluster", "2.0x", 7.0, 79.5, 0.6, 1e9, 2_000_000, speedup=2.0, lut_ms=4.8,
             parent="m@1", parent_p50=10.0)
    assert cp.implied_ms == 5.0
    assert "LUT estimate m@cp: 4.80 ms vs 5.00 ms measured (-4 %, within 10 %)" in "\n".join(
        verdicts([rows()[0], cp]))


class _IrStore:
    """Stand-in for the model store: refs to IR paths (the check only reads `.xml`)."""

    def __init__(self, paths: dict[str, Path]) -> None:
        self.paths = paths

    def load(self, name: str, version: str) -> SimpleNamespace:
        return SimpleNamespace(xml=self.paths[f"{name}@{version}"])


def test_lut_check_times_parent_and_variants_with_the_lut_statistic(tmp_path: Path) -> None:
    """Real OpenVINO timing of a parent and its variant in one interleaved set, the LUT's own statistic;
    the estimate is that parent latency minus the LUT's saving (64 -> 16 filters: 3.0 - 1.0 ms)."""
    store = _IrStore({"m@1": tiny_ir(tmp_path / "p.xml", 64), "m@cp": tiny_ir(tmp_path / "v.xml", 16)})
    lut = hand_lut([layer_lut("a", 3, 64, {16: 1.0, 32: 1.5, 64: 3.0}, [16, 32])])
    cp = Row("m@cp", "m", "cluster", "2.0x", 5.0, 79.5, 0.6, 1e9, 2_000_000, widths={"a": 16},
             original={"a": 64}, speedup=2.0, parent="m@1")
    lines = lut_check([rows()[0], cp], store, {"m": lut}, rounds=3)  # type: ignore[arg-type]
    assert len(lines) == 3 and lines[2].startswith("| m@cp | 1 | ")
    cells = [c.strip() for c in lines[2].strip("|").split("|")]
    parent_ms, est_ms = float(cells[2]), float(cells[4])
    assert parent_ms > 0 and abs(est_ms - (parent_ms - 2.0)) < 0.011
    assert cells[5].endswith("%") and cells[6].endswith("x")
