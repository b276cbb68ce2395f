"""Per-run latency ratios of the deep pair's variants, from the committed bench JSONs (no timing here):
the pair's 6 runs (bench/) and the seed-1 run's 6 (bench-seed1/).

    .venv/bin/python docs/pruning-fronts/deep-pair/ratios.py   # -> ratios.txt
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

HERE = Path(__file__).resolve().parent
PAIRS = [("ssd-mobilenet@c43-end", "ssd-mobilenet@cp-4.7x"), ("ssd-mobilenet@h43-end", "ssd-mobilenet@c43-end"),
         ("ssd-mobilenet@h43-end", "ssd-mobilenet@cp-4.7x"), ("ssd-mobilenet@h43-3.5x", "ssd-mobilenet@c43-3.5x"),
         ("ssd-mobilenet@h43-end", "ssd-mobilenet@hx-end"), ("ssd-mobilenet@c43s1-end", "ssd-mobilenet@cp-4.7x"),
         ("ssd-mobilenet@h43-end", "ssd-mobilenet@c43s1-end"), ("ssd-mobilenet@c43s1-3.5x", "ssd-mobilenet@cp-4.7x")]


def p50s(path: Path) -> dict[str, float]:
    return {r["model"]: r["latency"]["p50_ms"] for r in json.loads(path.read_text())["results"]}


def main() -> None:
    for folder in ("bench", "bench-seed1"):
        runs = [p50s(path) for path in sorted((HERE / folder).glob("bench-*.json"))]
        print(f"{folder}/: {len(runs)} bench runs; ratio = latency of the first / the second, per run")
        for first, second in PAIRS:
            ratios = [run[first] / run[second] for run in runs if first in run and second in run]
            if ratios:
                print(f"  {first} / {second}: median {statistics.median(ratios):.2f}, "
                      f"runs {', '.join(f'{r:.2f}' for r in ratios)}")


if __name__ == "__main__":
    main()
