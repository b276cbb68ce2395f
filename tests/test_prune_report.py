"""The pruning report's table, target verdicts and plots from hand-made rows."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from models.lut import CalibrationPoint, Lut, LutCalibration
from models.manifest import CountingFigures
from pruning.prune.calibration_fit import bench_calibrations, fit_calibration, lut_cross_check
from pruning.prune.report import (
    Row,
    add_estimates,
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
    assert ("scaled x 1.150, what whole uniformly pruned copies of parent.pt saved" in note) == calibrated


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


def referenced(lut: Lut, reference_ms: float) -> Lut:
    """`lut` as `profile --reference` writes it: every row with the whole model's latency beside it."""
    return lut.model_copy(update={"layers": {n: row.model_copy(update={"reference_ms": reference_ms})
                                             for n, row in lut.layers.items()}})


def cut_lut() -> Lut:
    """One layer of 64 filters: 3.0 ms whole, 1.5 ms at 32, 1.0 ms at 16; the whole model 10 ms."""
    return referenced(hand_lut([layer_lut("a", 3, 64, {16: 1.0, 32: 1.5, 64: 3.0}, [16, 32])]), 10.0)


def cut(keep: float, width: int, saved: float) -> Row:
    """A calibration cut of m@1 (10 ms) that measured `saved` of its parent in the bench."""
    speedup = 1 / (1 - saved)
    return Row(f"m@uniform-{keep:g}", "m", "uniform", "-", 10.0 / speedup, None, None, None, None,
               widths={"a": width}, original={"a": 64}, speedup=speedup, parent="m@1", parent_p50=10.0, keep=keep)


def test_cuts_timed_in_the_bench_fit_the_calibration() -> None:
    """The rows say the cuts save 0.15 (32 filters) and 0.20 (16); they saved 0.18 and 0.24: scale 1.2,
    and a variant at 16 filters is then estimated at 10 x (1 - 0.24) ms."""
    cuts = [cut(0.5, 32, 0.18), cut(0.25, 16, 0.24)]
    fitted = fit_calibration(cuts, {c.ref: c.speedup for c in cuts}, cut_lut(), None, "m@1", rounds=6, runs=300)
    assert fitted is not None and fitted.scale == pytest.approx(1.2, abs=1e-3)
    assert [p.keep for p in fitted.points] == [0.5, 0.25] and (fitted.rounds, fitted.runs) == (6, 300)
    cp = Row("m@cp", "m", "cluster", "4x", 7.6, 79.5, 0.6, 1e9, 2_000_000, widths={"a": 16}, original={"a": 64},
             speedup=1 / 0.76, parent="m@1", parent_p50=10.0)
    by_bench = bench_calibrations([rows()[0], *cuts, cp], {"m": cut_lut()}, {}, rounds=6, runs=300)
    assert by_bench["m"].scale == pytest.approx(fitted.scale)
    add_estimates([cp], {"m": cut_lut().model_copy(update={"calibration": by_bench["m"]})}, {})
    assert cp.lut_ms == pytest.approx(7.6, abs=0.01)


@pytest.mark.parametrize("saved", [0.0, -1.5])
def test_cuts_that_only_noise_explains_fit_nothing(saved: float) -> None:
    """A cut that saved nothing (scale 0) or ran at under half the parent's speed gives no calibration."""
    cuts = [cut(0.5, 32, saved)]
    assert fit_calibration(cuts, {c.ref: c.speedup for c in cuts}, cut_lut(), None, "m@1", 1, 1) is None
    assert bench_calibrations([rows()[0], *cuts], {"m": cut_lut()}, {}, 1, 1) == {}


def test_cuts_are_never_judged() -> None:
    text = "\n".join(verdicts([*rows(), replace(cut(0.5, 32, 0.18), lut_ms=8.0, map50=79.6)]))
    assert "uniform" not in text and "m@cp-2x" in text


def test_the_note_names_a_calibration_fitted_from_the_bench() -> None:
    cuts = [cut(0.5, 32, 0.18), cut(0.25, 16, 0.24)]
    lut = cut_lut().model_copy(update={"calibration": bench_calibrations([*cuts], {"m": cut_lut()}, {}, 6, 300)["m"]})
    point = CalibrationPoint(keep=0.5, lut_fraction=0.5, measured_fraction=0.553)
    before = LutCalibration(parent="p.pt", points=[point], rounds=1, runs=1, threads=1)
    note = scale_note([], {"m": lut}, replaced={"m": before})[0]
    assert "scaled x 1.200, fitted from 2 uniform cuts of m@1" in note and "in place of the LUT file's x 1.106" in note
    assert "their errors show the fit, not a check" in note


def test_lut_check_fits_the_calibration_from_cuts_timed_in_its_rounds(tmp_path: Path) -> None:
    """Real timing: a parent of 256 filters and its cut to 8 in one interleaved set; the cut saves most of the
    parent, so the fit has a positive scale and the note says it was used."""
    store = _IrStore({"m@1": tiny_ir(tmp_path / "p.xml", 256), "m@uniform-0.03": tiny_ir(tmp_path / "c.xml", 8),
                      "m@cp": tiny_ir(tmp_path / "v.xml", 64)})
    lut = referenced(hand_lut([layer_lut("a", 3, 256, {8: 0.1, 64: 0.3, 256: 1.0}, [])]), 1.2)
    uniform = Row("m@uniform-0.03", "m", "uniform", "-", 1.0, None, None, None, None, widths={"a": 8},
                  original={"a": 256}, parent="m@1", keep=0.03)
    cp = Row("m@cp", "m", "cluster", "2.0x", 5.0, 79.5, 0.6, 1e9, 2_000_000, widths={"a": 64},
             original={"a": 256}, parent="m@1")
    lines = lut_check([rows()[0], uniform, cp], store, {"m": lut}, rounds=3)  # type: ignore[arg-type]
    assert [line.split("|")[1].strip() for line in lines[2:4]] == ["m@uniform-0.03", "m@cp"]
    assert lines[-1].startswith("m: calibration fitted from 1 uniform cuts timed in these rounds, scale ")


def variant(ref: str, method: str, width: int, ratio: float = 1.2) -> Row:
    """A pruned variant of m@1 (10 ms) at `width` of cut_lut's 64 filters that saved `ratio` x what its row says."""
    saved = ratio * cut_lut().saved_fraction({"a": 64}, {"a": width})  # type: ignore[operator]
    return Row(ref, "m", method, "-", 10 * (1 - saved), 80.0, None, None, None, widths={"a": width},
               original={"a": 64}, speedup=1 / (1 - saved), parent="m@1", parent_p50=10.0)


def test_cross_check_estimates_each_method_with_a_fit_on_the_others() -> None:
    """Every variant saved 1.2x its row: a line fitted on any two methods estimates the third exactly; the
    cuts are not among the fitted or the judged."""
    rows_ = [rows()[0], variant("m@c1", "cluster", 16), variant("m@c2", "cluster", 40),
             variant("m@f1", "filter", 24), variant("m@f2", "filter+snap", 48),
             variant("m@h1", "hybrid-lw0.5", 32), cut(0.5, 32, 0.5)]
    lines = lut_cross_check(rows_, {"m": cut_lut()}, {}, rounds=6, runs=300)
    assert [line.split("|")[1].strip() for line in lines[2:7]] == ["m@c1", "m@c2", "m@f1", "m@f2", "m@h1"]
    assert "| m@c1 | 3 of other methods | " in lines[2]
    assert all(line.split("|")[3] == line.split("|")[4] for line in lines[2:7])  # estimate = measured
    assert lines[-1].startswith("5 of 5 within 10 %")
    assert lut_cross_check([rows()[0], variant("m@c1", "cluster", 16), variant("m@c2", "cluster", 40)],
                           {"m": cut_lut()}, {}, 6, 300) == []  # one method: nothing to leave out


def test_variants_fit_a_line_the_cuts_a_scale() -> None:
    rows_ = [variant("m@c1", "cluster", 16, 1.3), variant("m@f1", "filter", 40, 0.9), cut(0.5, 32, 0.18)]
    assert bench_calibrations(rows_, {"m": cut_lut()}, {}, 6, 300)["m"].shape == "scale"
    line = bench_calibrations(rows_, {"m": cut_lut()}, {}, 6, 300, "linear")["m"]
    assert line.shape == "linear" and [p.variant for p in line.points] == ["m@f1", "m@c1"]
    assert line.factor(0.2) == pytest.approx(1.3, abs=1e-3) and line.factor(0.1125) == pytest.approx(0.9, abs=1e-3)
