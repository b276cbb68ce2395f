"""Where a pruned network's time goes inside OpenVINO, node by node (PERF_COUNT), against its parent:
which kinds of node the LUT's rows (a prunable conv with its consumers) do not hold.

    .venv/bin/python docs/pruning-fronts/student-384x288/in-network/node_times.py \
        runs/v9/store/ssd-squeezenet/384x288/model.xml runs/v9/store/ssd-squeezenet/384x288-fp-end/model.xml
"""

from __future__ import annotations

import argparse
import statistics
from collections import defaultdict

import numpy as np
import openvino as ov


def node_times(path: str, runs: int, threads: int) -> dict[tuple[str, str], float]:
    """Median real time (ms) of every executed node over `runs` inferences: (node type, name) -> ms."""
    core = ov.Core()
    compiled = core.compile_model(core.read_model(path), "CPU",
                                  {"PERF_COUNT": "YES", "INFERENCE_NUM_THREADS": threads})
    request = compiled.create_infer_request()
    shape = compiled.input(0).shape
    data = np.random.default_rng(0).uniform(-1, 1, tuple(shape)).astype(np.float32)
    samples: dict[tuple[str, str], list[float]] = defaultdict(list)
    for index in range(runs + 10):
        request.infer({0: data})
        if index < 10:
            continue
        for info in request.profiling_info:
            if info.status == ov.ProfilingInfo.Status.EXECUTED:
                samples[(info.node_type, info.node_name)].append(info.real_time.total_seconds() * 1000)
    return {key: statistics.median(values) for key, values in samples.items()}


def by_type(times: dict[tuple[str, str], float]) -> dict[str, float]:
    total: dict[str, float] = defaultdict(float)
    for (kind, _name), ms in times.items():
        total[kind] += ms
    return dict(total)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", help="IR .xml files, the parent first")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    totals = [by_type(node_times(path, args.runs, args.threads)) for path in args.models]
    kinds = sorted(set().union(*totals), key=lambda k: -totals[0].get(k, 0.0))
    print("| node type | " + " | ".join(args.models) + " |")
    print("| --- | " + " | ".join("---" for _ in args.models) + " |")
    for kind in kinds:
        print(f"| {kind} | " + " | ".join(f"{t.get(kind, 0.0):.3f}" for t in totals) + " |")
    print("| **sum** | " + " | ".join(f"{sum(t.values()):.3f}" for t in totals) + " |")


if __name__ == "__main__":
    main()
