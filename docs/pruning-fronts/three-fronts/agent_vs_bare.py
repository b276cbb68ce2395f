"""What the agent's compiled model costs beyond the bare IR: each of four variants twice, as the bench compiles it
(`agent.bench.runner.latency_detector`: the frame's preprocessing folded in) and as the bare IR the LUT's rows
and reference were timed on; all eight in turns (10 untimed + 10 timed), 4 rounds of 200 timed inferences each.
Prints each round's p50s and, per variant, agent - bare (ms).

    .venv/bin/python docs/pruning-fronts/three-fronts/agent_vs_bare.py   # -> agent_vs_bare.txt
"""

from __future__ import annotations

import statistics

import numpy as np
import openvino as ov

from agent.bench.runner import latency_detector
from agent.timing import compile_config, prepared_request, time_interleaved
from models.store import ModelStore

VARIANTS = ("1", "cp-4.7x", "cp-2.1x", "h43s1-end")


def main() -> None:
    store, core = ModelStore("runs/v18/store"), ov.Core()
    frame = (np.random.default_rng(1).random((576, 768, 3)) * 255).astype(np.uint8)
    requests, detectors, labels = [], [], []
    for version in VARIANTS:
        stored = store.load("ssd-mobilenet", version)
        detector, request, tensor = latency_detector(core, stored, "CPU", frame)
        request.set_input_tensor(tensor)
        detectors.append(detector)
        requests += [request, prepared_request(core.compile_model(core.read_model(stored.xml), "CPU",
                                                                  compile_config(core, "CPU")))]
        labels += [f"{version} agent", f"{version} bare"]
    for _ in range(4):
        p50 = [statistics.median(s) * 1e3 for s in time_interleaved(requests, 200, burst=10, burst_warmup=10)]
        print(" ".join(f"{label}:{ms:.2f}" for label, ms in zip(labels, p50, strict=True)), " agent - bare:",
              " ".join(f"{p50[i] - p50[i + 1]:.2f}" for i in range(0, len(p50), 2)))


if __name__ == "__main__":
    main()
