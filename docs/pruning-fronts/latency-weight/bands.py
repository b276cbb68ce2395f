"""Median validation mAP@0.5 per band of loop-measured speedup, one column per pruning run: where runs'
trajectories part. Each input is a run's `steps.jsonl` or an `*-evaluations.json` list (step, measured
speedup, map50), labelled LABEL=PATH.

    .venv/bin/python docs/pruning-fronts/latency-weight/bands.py \
        cluster=docs/pruning-fronts/iterative-avx512/mobilenet-cluster-2.75x-evaluations.json \
        hybrid=docs/pruning-fronts/iterative-avx512/floor/mobilenet-hybrid-floor-evaluations.json \
        hybrid-lw0.5=docs/pruning-fronts/latency-weight/mobilenet-hybrid-lw0.5-evaluations.json
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

BANDS = [(1.0, 1.2), (1.2, 1.4), (1.4, 1.6), (1.6, 1.8), (1.8, 2.0), (2.0, 2.2), (2.2, 2.4), (2.4, 2.7),
         (2.7, 3.0), (3.0, 3.5), (3.5, 4.0), (4.0, 5.0)]


def evaluations(path: Path) -> list[tuple[float, float]]:
    """(measured speedup, validation mAP) of every evaluated step."""
    text = path.read_text()
    rows = json.loads(text) if path.suffix == ".json" else [json.loads(line) for line in text.splitlines() if line]
    return [(r["measured_speedup"], r["map50"]) for r in rows
            if r.get("measured_speedup") is not None and r.get("map50") is not None]


def main() -> None:
    runs = {label: evaluations(Path(path)) for label, path in (arg.split("=", 1) for arg in sys.argv[1:])}
    print("| loop-measured speedup | " + " | ".join(runs) + " |")
    print("| --- | " + " | ".join("---" for _ in runs) + " |")
    for lo, hi in BANDS:
        cells = []
        for points in runs.values():
            inside = [m for s, m in points if lo <= s < hi]
            cells.append(f"{statistics.median(inside):.1f} ({len(inside)})" if inside else "-")
        if any(cell != "-" for cell in cells):
            print(f"| {lo:.1f}-{hi:.1f}x | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
