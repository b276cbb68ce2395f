"""How latency moves within one long turn: the models in turn, 300 back-to-back inferences each per turn,
6 turns; the median ms of inferences [0, 1), [1, 10), [10, 40), [40, 100), [100, 300) of each turn, and
the parent's over each variant's, per range.

    .venv/bin/python docs/pruning-fronts/timing-regimes/within_turn.py
"""

from __future__ import annotations

import statistics
from pathlib import Path

import openvino as ov

from agent.timing import infer_seconds, ir_request

MODELS = ["1", "cp-4.7x", "cp-2.1x"]
RANGES = [(0, 1), (1, 10), (10, 40), (40, 100), (100, 300)]


def main() -> None:
    core = ov.Core()
    requests = [ir_request(core, Path(f"models/ssd-mobilenet/{m}/model.xml"), "CPU", 2) for m in MODELS]
    medians: dict[str, dict[tuple[int, int], list[float]]] = {m: {r: [] for r in RANGES} for m in MODELS}
    for _ in range(6):
        for model, request in zip(MODELS, requests, strict=True):
            ms = [infer_seconds(request) * 1e3 for _ in range(RANGES[-1][1])]
            for lo, hi in RANGES:
                medians[model][(lo, hi)].append(statistics.median(ms[lo:hi]))
    for model in MODELS:
        print(f"ssd-mobilenet@{model} ms: " + ", ".join(f"[{lo}, {hi}) {statistics.median(v):.2f}"
                                                      for (lo, hi), v in medians[model].items()))
    parent = medians[MODELS[0]]
    for model in MODELS[1:]:
        ratios = {r: statistics.median(p / v for p, v in zip(parent[r], medians[model][r], strict=True))
                  for r in RANGES}
        print(f"speedup of {model}: " + ", ".join(f"[{lo}, {hi}) {x:.2f}x" for (lo, hi), x in ratios.items()))


if __name__ == "__main__":
    main()
