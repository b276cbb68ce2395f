"""The 23 IRs of the three-front run store timed in turns, in rounds; each round once with turns of 10 untimed +
30 timed inferences and once with 5 + 10, 300 timed each. Every timed inference is kept, per turn, in a JSON
(not committed: 1.8 MB) that bursts_analyze.py reads: how far one network under two names reads apart.

    .venv/bin/python docs/pruning-fronts/three-fronts/bursts.py /tmp/bursts.json 6
    .venv/bin/python docs/pruning-fronts/three-fronts/bursts_analyze.py /tmp/bursts.json   # -> bursts.txt
"""

from __future__ import annotations

import json
import sys

import numpy as np
import openvino as ov

from agent.bench.runner import latency_detector
from agent.timing import infer_seconds
from models.store import ModelStore

TURNS = ((30, 10), (10, 5))  # (timed, untimed) inferences a turn


def main() -> None:
    out_path, rounds = sys.argv[1], int(sys.argv[2])
    store = ModelStore("runs/v18/store")
    names = sorted(p.name for p in (store.root / "ssd-mobilenet").iterdir())
    core = ov.Core()
    frame = (np.random.default_rng(1).random((576, 768, 3)) * 255).astype(np.uint8)
    detectors, requests = [], []
    for name in names:
        detector, request, tensor = latency_detector(core, store.load("ssd-mobilenet", name), "CPU", frame)
        request.set_input_tensor(tensor)
        detectors.append(detector)
        requests.append(request)
    out: dict = {"names": names, "runs": []}
    for number in range(rounds):
        for burst, warm in TURNS:
            raw: list[list[list[float]]] = [[] for _ in names]  # per model: its turns, each a list of seconds
            for _ in range(300 // burst):
                for request, turns in zip(requests, raw, strict=True):
                    for _ in range(warm):
                        request.infer()
                    turns.append([infer_seconds(request) for _ in range(burst)])
            out["runs"].append({"burst": burst, "warm": warm, "raw": raw})
            print(number, burst, flush=True)
    with open(out_path, "w") as file:
        json.dump(out, file)


if __name__ == "__main__":
    main()
