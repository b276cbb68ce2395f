"""Other shapes of the whole-model calibration, on the same 35 networks as evaluate.py (offline, no timing).

`scale`: the committed one (least squares through the origin); `interp`: the saved fraction interpolated
between the calibration points (extrapolated by the last point's ratio); `ratio`: the points' ratio
(measured / rows) interpolated over the rows' fraction, flat outside them.

    .venv/bin/python docs/pruning-fronts/lut-calibration/shapes.py   # -> shapes.txt
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import numpy as np

from models.lut import MAX_SAVED_FRACTION, CalibrationPoint, Lut, load_lut
from models.store import ModelStore

_SPEC = importlib.util.spec_from_file_location("evaluate", Path(__file__).with_name("evaluate.py"))
evaluate = importlib.util.module_from_spec(_SPEC)  # type: ignore[arg-type]
_SPEC.loader.exec_module(evaluate)  # type: ignore[union-attr]


def shaped(points: list[CalibrationPoint], shape: str) -> Callable[[float], float]:
    xs = np.array([0.0] + [p.lut_fraction for p in points])
    ys = np.array([0.0] + [p.measured_fraction for p in points])
    order = np.argsort(xs)
    xs, ys = xs[order], ys[order]

    def interp(x: float) -> float:
        return float(np.interp(x, xs, ys)) if x <= xs[-1] else x * ys[-1] / xs[-1]

    def ratio(x: float) -> float:
        return x * float(np.interp(x, xs[1:], ys[1:] / xs[1:]))

    chosen = interp if shape == "interp" else ratio
    return lambda x: min(chosen(x), MAX_SAVED_FRACTION)


def networks(arch: str, lut: Lut, case: tuple[str, str, str, str], store: ModelStore) -> list[tuple[str, float, float]]:
    """(network, rows' fraction, measured speedup) of every network evaluate.py judges (uniform probes apart)."""
    _, spec_path, bench, table = case
    shipped = evaluate.shipped(lut, spec_path, evaluate.FRONTS / "timing-regimes" / bench, store)
    found = [(variant, rows, measured["benchmark_app"]) for variant, rows, _, measured in shipped]
    for kind in ("variant", "jittered"):
        for network, rows, _, measured in evaluate.residual(lut, evaluate.FRONTS / "lut-residual" / table, kind):
            found.append((f"{arch} {network}", rows, 1 / (1 - measured)))
    return found


def main() -> None:
    store = ModelStore(Path("models"))
    for shape in ("scale", "interp", "ratio"):
        errors = []
        for arch, case in evaluate.CASES.items():
            lut = load_lut(evaluate.HERE / case[0])
            assert lut.calibration is not None
            apply = lut.calibration.apply if shape == "scale" else shaped(lut.calibration.points, shape)
            errors += [(name, evaluate.error(apply(rows), speedup))
                       for name, rows, speedup in networks(arch, lut, case, store)]
        misses = ", ".join(f"{name} {evaluate.fmt(e)}" for name, e in errors if abs(e) > 0.10)
        print(f"{shape}: {evaluate.within([e for _, e in errors])}; beyond 10 %: {misses}")


if __name__ == "__main__":
    main()
