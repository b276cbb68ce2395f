"""Per-run p50s, the report's medians (`pruning.prune.report`) with the range of within-run ratios, and
the throughput ratio, over `headcount-agent bench` JSONs.

    .venv/bin/python docs/pruning-fronts/iterative-avx512/speedups.py bench-*.json
    .venv/bin/python docs/pruning-fronts/iterative-avx512/speedups.py --parent ssd-squeezenet@384x288 bench-*.json
"""

import argparse
import json
import statistics

from pruning.prune.report import median_latency, median_speedup


def main(paths: list[str], parent: str) -> None:
    results = [{r["model"]: r for r in json.load(open(path))["results"]} for path in paths]
    p50 = [{name: r["latency"]["p50_ms"] for name, r in run.items()} for run in results]
    fps = [{name: r["throughput"]["fps"] for name, r in run.items()} for run in results]
    for name in results[0]:
        ratios = [run[parent] / run[name] for run in p50]
        print(f"| {name} | {', '.join(f'{run[name]:.2f}' for run in p50)} | {median_latency(p50, name):.2f} | "
              f"{median_speedup(p50, parent, name):.2f}x ({min(ratios):.2f}-{max(ratios):.2f}) | "
              f"{statistics.median(run[name] / run[parent] for run in fps):.2f}x |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parent", default="ssd-mobilenet@1", help="the run's unpruned model, NAME@VERSION")
    parser.add_argument("bench", nargs="+", help="headcount-agent bench JSONs")
    args = parser.parse_args()
    main(args.bench, args.parent)
