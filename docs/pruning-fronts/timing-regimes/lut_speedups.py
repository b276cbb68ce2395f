"""The LUT's estimate of each shipped variant's speedup, 1 / (1 - `Lut.saved_fraction`), to set beside the
speedups bench/timing_regimes.py measures (the LUTs the fronts were judged with; a pruned consumer's overlap once).

    .venv/bin/python docs/pruning-fronts/timing-regimes/lut_speedups.py
"""

from __future__ import annotations

from pathlib import Path

from agent.profile.spec_io import load_spec
from models.lut import load_lut
from models.store import ModelStore

VARIANTS = {
    ("ssd-mobilenet", "docs/pruning-fronts/iterative-avx512/floor/ssd-mobilenet-2threads-avx512-ref.lut.json",
     "docs/pruning-luts/ssd-mobilenet.spec.json"): ["cp-1.9x", "cp-2.1x", "cp-4.7x", "fp-1.9x"],
    ("ssd-squeezenet", "docs/pruning-luts/ssd-squeezenet-384x288-2threads-avx512.lut.json",
     "pruning/checkpoints/ssd-squeezenet-384x288.spec.json"): ["384x288-hp1.6x", "384x288-hp2.5x"],
}


def main() -> None:
    store = ModelStore(Path("models"))
    for (name, lut_path, spec_path), versions in VARIANTS.items():
        lut, spec = load_lut(Path(lut_path)), load_spec(spec_path)
        for version in versions:
            details = store.load(name, version).manifest.provenance.details
            fraction = lut.saved_fraction(details["unpruned_filters_per_layer"], details["filters_per_layer"], spec)
            print(f"{name}@{version}: saved fraction {fraction:.3f}, LUT speedup {1 / (1 - fraction):.2f}x")


if __name__ == "__main__":
    main()
