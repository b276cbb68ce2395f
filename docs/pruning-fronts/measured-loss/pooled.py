"""Speedups pooled over every bench run that timed a variant beside its parent (the same IR files in every
set), each method's front on the pooled figures, and which variants a given method's front covers.

Per variant: the runs that have it, the median of its within-run ratios (parent p50 / its p50) and their
quartiles; test mAP@0.5 from a variants JSON (`ref`, `method`, `test_map50`).

    .venv/bin/python docs/pruning-fronts/measured-loss/pooled.py --parent ssd-squeezenet@384x288 \
        --variants docs/pruning-fronts/measured-loss/student/variants.json BENCH.json ...
"""

import argparse
import json
import statistics

from pruning.prune.report import median_speedup


def pooled(paths: list[str], parent: str) -> tuple[dict[str, float], dict[str, tuple[int, float, float]]]:
    runs = [{r["model"]: r["latency"]["p50_ms"] for r in json.load(open(path))["results"]} for path in paths]
    medians, spread = {}, {}
    for name in sorted({n for run in runs for n in run} - {parent}):
        ratios = sorted(run[parent] / run[name] for run in runs if name in run and parent in run)
        quartiles = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [ratios[0]] * 3
        medians[name] = median_speedup(runs, parent, name)
        spread[name] = (len(ratios), quartiles[0], quartiles[2])
    return medians, spread


def main(paths: list[str], parent: str, variants_path: str) -> None:
    variants = {v["ref"]: v for v in json.load(open(variants_path))}
    medians, spread = pooled(paths, parent)
    print("| variant | method | runs | speedup (median, quartiles) | mAP@0.5 |\n| --- | --- | --- | --- | --- |")
    for name in sorted(medians, key=medians.get):
        runs, low, high = spread[name]
        print(f"| {name.split('@')[1]} | {variants[name]['method']} | {runs} | {medians[name]:.2f}x "
              f"({low:.2f}-{high:.2f}) | {variants[name]['test_map50']:.2f} |")
    methods = sorted({variants[n]["method"] for n in medians})
    print("\nFronts (fastest first; a point is on its method's front when no variant of that method is at least "
          "as fast and more accurate):")
    fronts = {}
    for method in methods:
        mine = sorted((n for n in medians if variants[n]["method"] == method), key=lambda n: -medians[n])
        front, best = [], -1.0
        for name in mine:
            if variants[name]["test_map50"] > best:
                front.append(name)
                best = variants[name]["test_map50"]
        fronts[method] = front
        print(f"- {method}: " + ", ".join(f"{n.split('@')[1]} {medians[n]:.2f}x {variants[n]['test_map50']:.2f}"
                                           for n in front))
    print("\nPoints of each front that a hybrid variant (any hybrid-* method) covers (at least as fast and at least "
          "as accurate):")
    hybrids = [n for n in medians if variants[n]["method"].startswith("hybrid")]
    for method, front in fronts.items():
        if method.startswith("hybrid"):
            continue
        covered = [n for n in front if any(medians[h] >= medians[n] and variants[h]["test_map50"] >=
                                           variants[n]["test_map50"] for h in hybrids)]
        print(f"- {method}: {len(covered)} of {len(front)}; not covered: "
              + (", ".join(n.split("@")[1] for n in front if n not in covered) or "none"))
    print("\nEqual mAP: for each cluster and conventional front point, the fastest hybrid variant (any hybrid-*) "
          "within 0.5 point of its mAP or above, and hybrid latency / its latency (target <= 0.9):")
    for method in ("cluster", "filter"):
        for name in fronts.get(method, []):
            level = variants[name]["test_map50"] - 0.5
            match = max((h for h in hybrids if variants[h]["test_map50"] >= level), key=medians.get, default=None)
            text = "no hybrid variant" if match is None else \
                f"{match.split('@')[1]} {medians[match]:.2f}x -> {medians[name] / medians[match]:.2f}x"
            print(f"- {method} {name.split('@')[1]} ({medians[name]:.2f}x, {variants[name]['test_map50']:.2f}): {text}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parent", required=True, help="the unpruned model, NAME@VERSION")
    parser.add_argument("--variants", required=True, help="JSON list of {ref, method, test_map50}")
    parser.add_argument("bench", nargs="+", help="headcount-agent bench JSONs")
    args = parser.parse_args()
    main(args.bench, args.parent, args.variants)
