"""The pruned variants' line (`LutCalibration` shape `linear`) fitted in one bench set and judged in another.

Two 6-run sets of the same 22 SSD-MobileNet variants in turns of 10, about 90 minutes apart:
`three-fronts/bench-turns10` (second session) and `cut-calibration/bench-cuts` (this one). For each
direction: the line fitted on every variant of one set, judged on the other (same IRs, other runs: what
the LUT a report writes does for the next bench), and the strict form, the line fitted on the other two
methods' variants of one set, judged on the method left out in the other set.

    .venv/bin/python docs/pruning-fronts/cut-calibration/across.py [STORE]   # default runs/v18/store
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

from models.bench import BenchReport
from models.layer_spec import read_spec
from models.lut import Lut, load_lut
from models.store import ModelStore
from pruning.prune.calibration_fit import fit_calibration, is_cut
from pruning.prune.fronts import family
from pruning.prune.report import Row, measured_rows

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
SETS = {"turns10 (second session)": ROOT / "docs/pruning-fronts/three-fronts/bench-turns10",
        "bench-cuts (third session)": HERE / "bench-cuts"}
LUT = ROOT / "docs/pruning-fronts/lut-calibration/ssd-mobilenet-2threads-avx512-ref.lut.json"
SPEC = ROOT / "docs/pruning-luts/ssd-mobilenet.spec.json"


def variants(folder: Path, store: ModelStore) -> tuple[Row, list[Row]]:
    reports = [BenchReport.model_validate_json(p.read_text()) for p in sorted(folder.glob("*.json"))]
    rows = measured_rows(reports, store)
    return next(r for r in rows if r.method == "unpruned"), [r for r in rows if r.original and not is_cut(r)]


def errors(fit_on: list[Row], judged: list[Row], parent: Row, lut: Lut) -> list[float]:
    spec = read_spec(SPEC)
    calibration = fit_calibration(fit_on, {r.ref: r.speedup for r in fit_on}, lut, spec, parent.ref, 6, 300, "linear")
    assert calibration is not None
    shaped = lut.model_copy(update={"calibration": calibration})
    return [shaped.estimate_ms(parent.p50, r.original, r.widths, spec) / r.implied_ms - 1 for r in judged]


def summary(label: str, errs: list[float]) -> str:
    return (f"{label}: {sum(abs(e) <= 0.10 for e in errs)} of {len(errs)} within 10 %, median "
            f"{100 * statistics.median(errs):+.0f} %, {100 * min(errs):+.0f} % to {100 * max(errs):+.0f} %")


def main(store: ModelStore) -> None:
    lut = load_lut(LUT).model_copy(update={"calibration": None})
    loaded = {name: variants(folder, store) for name, folder in SETS.items()}
    for fit_name, (_, fit_rows) in loaded.items():
        for judge_name, (parent, judge_rows) in loaded.items():
            if judge_name == fit_name:
                continue
            print(summary(f"fitted on all of {fit_name}, judged in {judge_name}",
                          errors(fit_rows, judge_rows, parent, lut)))
            strict: list[float] = []
            for held in sorted({family(r.method) for r in judge_rows}):
                errs = errors([r for r in fit_rows if family(r.method) != held],
                              [r for r in judge_rows if family(r.method) == held], parent, lut)
                print("  " + summary(f"{held} left out of the fit", errs))
                strict += errs
            print("  " + summary("each method left out of the fit", strict))


if __name__ == "__main__":
    main(ModelStore(sys.argv[1] if len(sys.argv) > 1 else ROOT / "runs/v18/store"))
