"""Median of within-run ratios (the parent's p50 / a variant's p50) over `headcount-agent bench` JSONs.

    python3 docs/pruning-fronts/iterative-avx512/speedups.py bench-*.json
"""

import json
import statistics
import sys

PARENT = "ssd-mobilenet@1"


def main(paths: list[str]) -> None:
    runs = [{r["model"]: r for r in json.load(open(path))["results"]} for path in paths]
    for name in runs[0]:
        p50 = [run[name]["latency"]["p50_ms"] for run in runs]
        ratio = [run[PARENT]["latency"]["p50_ms"] / run[name]["latency"]["p50_ms"] for run in runs]
        fps = [run[name]["throughput"]["fps"] / run[PARENT]["throughput"]["fps"] for run in runs]
        print(f"| {name} | {', '.join(f'{x:.2f}' for x in p50)} | {statistics.median(p50):.2f} | "
              f"{statistics.median(ratio):.2f}x ({min(ratio):.2f}-{max(ratio):.2f}) | {statistics.median(fps):.2f}x |")


if __name__ == "__main__":
    main(sys.argv[1:])
