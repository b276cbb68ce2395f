"""LUT calibrations fitted from bench rows (`headcount-prune report`).

Two sources, both timed in the same bench runs as the variants whose latency the LUT estimates:
- the parent's uniform cuts (`headcount-prune calibrate-lut --store`): one scale on the rows' savings;
- the pruned variants themselves, whose measured / rows ratio grows with how much they were cut: a line
  over the rows' saved fraction (`LutCalibration.shape == "linear"`). Fitted on some methods' variants it
  is checked on another's (`lut_cross_check`); fitted on all, it is the calibration the report writes
  beside itself for the next pruning run.
"""

from __future__ import annotations

import statistics
from typing import TYPE_CHECKING, Literal

from pydantic import ValidationError

from models.layer_spec import ModelSpec
from models.lut import UNIFORM_METHOD, CalibrationPoint, Lut, LutCalibration
from pruning.prune.fronts import family

if TYPE_CHECKING:
    from pruning.prune.report import Row

Shape = Literal["scale", "linear"]
"""`LutCalibration.shape`: one scale (fitted on uniform cuts) or a line (fitted on pruned variants)."""
LUT_TOLERANCE = 0.10
"""Issue 14's target: every estimate within 10 % of the bench."""


def is_cut(row: Row) -> bool:
    """Whether `row` is a calibration cut: timed to calibrate the LUT, never judged nor on a front."""
    return row.method == UNIFORM_METHOD


def fit_calibration(measured: list[Row], speedups: dict[str, float], lut: Lut, spec: ModelSpec | None,
                    parent: str, rounds: int, runs: int, shape: Shape = "scale") -> LutCalibration | None:
    """The LUT's calibration from networks of `parent` timed beside the variants (uniform cuts, or pruned
    variants with `shape="linear"`): what each saved (1 - 1 / its speedup over the parent, timed in the same
    runs) against what the LUT's rows say it saves.

    None without a network that has its speedup and rows with a reference, or where the points would give a
    calibration `LutCalibration` refuses (one that saved nothing or ran at under half the parent's speed:
    noise, not the network)."""
    try:
        points = sorted((CalibrationPoint(keep=row.keep, variant=None if row.keep is not None else row.ref,
                                          lut_fraction=round(fraction, 4),
                                          measured_fraction=round(1 - 1 / speedups[row.ref], 4))
                         for row in measured if row.ref in speedups
                         and (fraction := lut.saved_fraction(row.original, row.widths, spec)) is not None),
                        key=lambda p: p.lut_fraction)
        return LutCalibration(parent=parent, rounds=rounds, runs=runs, threads=lut.thread_count, points=points,
                              shape=shape) if points else None
    except ValidationError:
        return None


def bench_calibrations(rows: list[Row], luts: dict[str, Lut], specs: dict[str, ModelSpec], rounds: int,
                       runs: int, shape: Shape = "scale") -> dict[str, LutCalibration]:
    """Per LUT, the calibration fitted (`fit_calibration`) from the cuts the benches timed, or with
    `shape="linear"` from the pruned variants they timed, where any."""
    fitted = {}
    for name, lut in luts.items():
        measured = [r for r in rows if r.name == name and r.parent_p50 and r.original
                    and is_cut(r) == (shape == "scale")]
        parents = ", ".join(sorted({r.parent for r in measured if r.parent}))
        calibration = fit_calibration(measured, {r.ref: r.speedup for r in measured}, lut, specs.get(name), parents,
                                      rounds, runs, shape)
        if calibration is not None:
            fitted[name] = calibration
    return fitted


def lut_cross_check(rows: list[Row], luts: dict[str, Lut], specs: dict[str, ModelSpec], rounds: int,
                    runs: int) -> list[str]:
    """The LUT's estimate of each method's variants under a calibration fitted (`shape="linear"`) on the
    other methods' variants of the same parent in the same runs: the estimate checked on networks no fit
    saw (leave one method out). Empty where no parent has variants of two methods."""
    lines = ["| variant | fitted on | LUT est. ms | measured ms | error |", "| --- | --- | --- | --- | --- |"]
    errors = []
    for name, lut in luts.items():
        for parent in (r for r in rows if r.name == name and r.method == "unpruned"):
            mine = [r for r in rows if r.parent == parent.ref and not is_cut(r) and r.original and r.parent_p50]
            for held in sorted({family(r.method) for r in mine}):
                others = [r for r in mine if family(r.method) != held]
                calibration = fit_calibration(others, {r.ref: r.speedup for r in others}, lut, specs.get(name),
                                              parent.ref, rounds, runs, "linear")
                if calibration is None:
                    continue
                shaped = lut.model_copy(update={"calibration": calibration})
                for row in (r for r in mine if family(r.method) == held):
                    estimate = shaped.estimate_ms(parent.p50, row.original, row.widths, specs.get(name))
                    errors.append(estimate / row.implied_ms - 1)
                    lines.append(f"| {row.ref} | {len(others)} of other methods | {estimate:.2f} | "
                                 f"{row.implied_ms:.2f} | {100 * errors[-1]:+.0f} % |")
    if not errors:
        return []
    within = sum(abs(e) <= LUT_TOLERANCE for e in errors)
    return [*lines, "", f"{within} of {len(errors)} within {100 * LUT_TOLERANCE:.0f} % (median "
            f"{100 * statistics.median(errors):+.0f} %, {100 * min(errors):+.0f} % to {100 * max(errors):+.0f} %)."]
