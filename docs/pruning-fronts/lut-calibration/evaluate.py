"""The LUT estimate with and without its whole-model calibration, against speedups measured without it.

Checked on two sets nobody tuned the calibration to (it is fitted on uniform cuts only):
1. the six shipped variants against OpenVINO's own benchmark_app and against the bench's turns, in the
   same 10 rounds (../timing-regimes/{mobilenet,student}.json, 2026-12-02);
2. the deep variants an earlier session timed with the parent in one set of shuffled rounds, the LUT's
   own statistic (../lut-residual/{mobilenet,squeezenet-384x288}.txt: the rows' saved fraction and the
   measured one);
3. that session's probe networks, timed in the same rounds: jittered +-30 % per layer (no calibration
   network is like them), and uniform (near-replicates of the calibration's own uniform cuts, listed apart).
Error = estimated latency / measured latency - 1, where latency is the parent's x (1 - saved fraction).

    .venv/bin/python docs/pruning-fronts/lut-calibration/evaluate.py
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from agent.profile.spec_io import load_spec
from models.lut import Lut, load_lut
from models.store import ModelStore

HERE = Path(__file__).resolve().parent
FRONTS = HERE.parent
CASES = {
    "ssd-mobilenet": ("ssd-mobilenet-2threads-avx512-ref.lut.json", "docs/pruning-luts/ssd-mobilenet.spec.json",
                      "mobilenet.json", "mobilenet.txt"),
    "ssd-squeezenet": ("ssd-squeezenet-384x288-2threads-avx512.lut.json",
                       "pruning/checkpoints/ssd-squeezenet-384x288.spec.json", "student.json",
                       "squeezenet-384x288.txt"),
}


def error(estimated_fraction: float, measured_speedup: float) -> float:
    return (1 - estimated_fraction) * measured_speedup - 1


def fmt(value: float) -> str:
    return f"{100 * value:+.0f} %"


def within(errors: list[float]) -> str:
    return f"{sum(abs(e) <= 0.10 for e in errors)} of {len(errors)} within 10 %, worst {fmt(max(errors, key=abs))}"


def shipped(lut: Lut, spec_path: str, bench: Path, store: ModelStore) -> list[tuple[str, float, float, dict]]:
    """(variant, rows' fraction, calibrated fraction, measured speedups) of each benched variant."""
    spec = load_spec(spec_path)
    rows = []
    for measured in json.loads(bench.read_text())["medians"]:
        name, version = measured["variant"].split("@")
        details = store.load(name, version).manifest.provenance.details
        fraction = lut.saved_fraction(details["unpruned_filters_per_layer"], details["filters_per_layer"], spec)
        rows.append((measured["variant"], fraction, lut.calibration.apply(fraction), measured))
    return rows


def kind_of(network: str) -> str:
    if not network.startswith("probe"):
        return "variant"
    return "uniform" if network.endswith("jitter 0.0") else "jittered"


def residual(lut: Lut, table: Path, kind: str) -> list[tuple[str, float, float, float]]:
    """(network, rows' fraction, calibrated fraction, measured fraction) of the earlier in-round networks
    of `kind` (`kind_of`)."""
    rows = []
    for line in table.read_text().splitlines():
        match = re.match(r"\| ([^|]+?) \| ([\d.]+) \| ([\d.]+) \|", line)
        if match and kind_of(match.group(1)) == kind:
            fraction = float(match.group(2))
            rows.append((match.group(1), fraction, lut.calibration.apply(fraction), float(match.group(3))))
    return rows


def main() -> None:
    store = ModelStore(Path("models"))
    for name, (lut_file, spec_path, bench, table) in CASES.items():
        lut = load_lut(HERE / lut_file)
        assert lut.calibration is not None
        print(f"## {name}: calibration scale {lut.calibration.scale:.3f} (points: "
              + ", ".join(f"keep {p.keep} rows {p.lut_fraction:.3f} measured {p.measured_fraction:.3f}"
                          for p in lut.calibration.points) + ")\n")
        print("| variant | rows' speedup | calibrated | benchmark_app | turns | rows vs app | calibrated vs app "
              "| rows vs turns | calibrated vs turns |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        errors: dict[str, list[float]] = {"rows app": [], "cal app": [], "rows turns": [], "cal turns": []}
        for variant, rows, cal, measured in shipped(lut, spec_path, FRONTS / "timing-regimes" / bench, store):
            app, turns = measured["benchmark_app"], measured["turns"]
            found = {"rows app": error(rows, app), "cal app": error(cal, app), "rows turns": error(rows, turns),
                     "cal turns": error(cal, turns)}
            for key, value in found.items():
                errors[key].append(value)
            print(f"| {variant} | {1 / (1 - rows):.2f}x | {1 / (1 - cal):.2f}x | {app:.2f}x | {turns:.2f}x | "
                  + " | ".join(fmt(v) for v in found.values()) + " |")
        print("\n" + "; ".join(f"{key}: {within(values)}" for key, values in errors.items()) + "\n")
        for kind, label in (("variant", "earlier in-round variant"), ("jittered", "earlier jittered probe"),
                            ("uniform", "earlier uniform probe (a replicate of a calibration cut)")):
            print(f"| {label} | rows' fraction | calibrated | measured | rows error | calibrated error |")
            print("| --- | --- | --- | --- | --- | --- |")
            rows_errors, cal_errors = [], []
            for network, rows, cal, measured in residual(lut, FRONTS / "lut-residual" / table, kind):
                speedup = 1 / (1 - measured)
                rows_errors.append(error(rows, speedup))
                cal_errors.append(error(cal, speedup))
                print(f"| {network} | {rows:.3f} | {cal:.3f} | {measured:.3f} | {fmt(rows_errors[-1])} | "
                      f"{fmt(cal_errors[-1])} |")
            print(f"\nrows: {within(rows_errors)}; calibrated: {within(cal_errors)}\n")


if __name__ == "__main__":
    main()
