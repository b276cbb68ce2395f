"""What one calibration scale can do for the LUT's estimates on the cut-calibration bench (offline, no timing).

Per network of `bench-cuts/`: what it saved in the bench (1 - 1 / its within-run speedup over @1, medians of
6 runs), what the LUT's rows say (overlap counted once; twice for the overlap's share), measured / rows, and
the share of filters kept. Then the estimate's error on the 22 pruned variants for the scales measured so
far (uncalibrated 1.0; the cuts by calibrate-lut on 2026-12-03, second session, 1.018; the cuts in this
bench 1.092; the committed LUT's 1.106; the cuts in this set's --check-rounds 1.146), and the scale each
method's own variants would fit (least squares through the origin, as `LutCalibration.scale`): a scale
fitted on the judged variants is for reading, not for use.

    .venv/bin/python docs/pruning-fronts/cut-calibration/scales.py [STORE]   # default runs/v18/store
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

import numpy as np

from models.bench import BenchReport
from models.layer_spec import ModelSpec, read_spec
from models.lut import Lut, load_lut
from models.store import ModelStore
from pruning.prune.report import Row, measured_rows

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
LUT = ROOT / "docs/pruning-fronts/lut-calibration/ssd-mobilenet-2threads-avx512-ref.lut.json"
SPEC = ROOT / "docs/pruning-luts/ssd-mobilenet.spec.json"
SCALES = (1.0, 1.018, 1.092, 1.106, 1.146)


def main(store: Path) -> None:
    bench = Path(sys.argv[2]) if len(sys.argv) > 2 else HERE / "bench-cuts"
    reports = [BenchReport.model_validate_json(p.read_text()) for p in sorted(bench.glob("*.json"))]
    rows = measured_rows(reports, ModelStore(store))
    lut, spec = load_lut(LUT).model_copy(update={"calibration": None}), read_spec(SPEC)
    parent = next(r for r in rows if r.method == "unpruned")
    pruned = sorted((r for r in rows if r.original), key=lambda r: r.speedup)
    print(f"{'network':14s} {'saved':>6s} {'rows':>6s} {'ratio':>6s} {'overlap %':>9s} {'kept %':>6s}")
    for r in pruned:
        once = lut.saved_fraction(r.original, r.widths, spec) or 0.0
        twice = lut.saved_fraction(r.original, r.widths) or 0.0
        saved, kept = 1 - 1 / r.speedup, sum(r.widths.values()) / sum(r.original.values())
        print(f"{r.ref.split('@')[1]:14s} {saved:6.3f} {once:6.3f} {saved / once:6.3f} "
              f"{100 * (twice - once) / once:9.1f} {100 * kept:6.1f}")
    judged = [r for r in pruned if r.method != "uniform"]
    print()
    for scale in SCALES:
        errors = [error(r, parent, lut, spec, scale) for r in judged]
        print(f"scale {scale:.3f}: {sum(abs(e) <= 0.10 for e in errors)} of {len(errors)} within 10 %, median "
              f"{100 * statistics.median(errors):+.0f} %, range {100 * min(errors):+.0f} % to "
              f"{100 * max(errors):+.0f} %")
    for method in ("cluster", "filter", "hybrid"):
        mine = [r for r in judged if r.method.startswith(method)]
        x = [lut.saved_fraction(r.original, r.widths, spec) or 0.0 for r in mine]
        y = [1 - 1 / r.speedup for r in mine]
        fit = sum(a * b for a, b in zip(x, y, strict=True)) / sum(a * a for a in x)
        print(f"the {len(mine)} {method} variants alone would fit {fit:.3f}")
    print()
    totals: dict[str, list[float]] = {}
    for held in ("cluster", "filter", "hybrid"):
        train = [r for r in judged if not r.method.startswith(held)]
        f = np.array([lut.saved_fraction(r.original, r.widths, spec) or 0.0 for r in train])
        ratio = np.array([(1 - 1 / r.speedup) for r in train]) / f
        for label in SHAPES:
            errors = [error(r, parent, lut, spec, shaped(label, lut.saved_fraction(r.original, r.widths, spec) or 0.0,
                                                        f, ratio)) for r in judged if r.method.startswith(held)]
            totals.setdefault(label, []).extend(errors)
            print(f"{held} left out, {label}: {sum(abs(e) <= 0.10 for e in errors)} of {len(errors)} within 10 %, "
                  f"range {100 * min(errors):+.0f} % to {100 * max(errors):+.0f} %")
    for label, errors in totals.items():
        print(f"leave one method out, {label}: {sum(abs(e) <= 0.10 for e in errors)} of {len(errors)} within 10 %")


SHAPES = ("one scale", "ratio linear in f", "ratio interpolated")


def shaped(label: str, x: float, f: np.ndarray, ratio: np.ndarray) -> float:
    """The scale a shape fitted on (rows' fraction `f`, measured / rows `ratio`) gives at rows' fraction `x`."""
    if label == "one scale":
        return float((f * f * ratio).sum() / (f * f).sum())
    if label == "ratio linear in f":
        slope, intercept = np.polyfit(f, ratio, 1)
        return float(intercept + slope * x)
    order = np.argsort(f)
    return float(np.interp(x, f[order], ratio[order]))


def error(row: Row, parent: Row, lut: Lut, spec: ModelSpec, scale: float) -> float:
    """The estimate's error against the variant's latency on the parent's scale, the report's way."""
    fraction = lut.saved_fraction(row.original, row.widths, spec) or 0.0
    return parent.p50 * (1 - min(fraction * scale, 0.95)) / row.implied_ms - 1


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "runs/v18/store")
