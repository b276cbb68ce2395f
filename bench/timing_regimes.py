"""Which way of taking turns measures the speedup OpenVINO's own benchmark_app measures?

The pruning loop, `headcount-prune latency` and the export time a variant beside its parent in turns
(`agent.timing.time_interleaved`) so that a shared machine's drift hits both. This script measures each
variant's speedup over its parent three ways, round after round on the same IRs:

- one inference at a time, the models alternating (`burst=1, burst_warmup=0`: how the loop timed before turns);
- turns (`agent.timing` defaults: `BURST_WARMUP` untimed inferences, then `BURST` timed ones per turn);
- `benchmark_app -hint none -nstreams 1 -nthreads N -api sync -niter I`, each IR alone (as the agent runs a model:
  one, back to back), median latency, nobody's code but OpenVINO's.

Per round it takes parent / variant in each regime; it prints the median over rounds, and each regime's
speedup over benchmark_app's (1.00: the same speedup).

    .venv/bin/python bench/timing_regimes.py --parent ssd-mobilenet@1 \
        --variants ssd-mobilenet@cp-1.9x ssd-mobilenet@cp-2.1x ssd-mobilenet@cp-4.7x ssd-mobilenet@fp-1.9x
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import openvino as ov
from bench_vs_benchmark_app import MEDIAN, run_benchmark_app

from agent.timing import BURST, BURST_WARMUP, ir_request, median_ms, time_interleaved
from models.store import ModelStore, parse_ref

REGIMES = ("one at a time", "turns", "benchmark_app")


def round_speedups(core: ov.Core, xmls: list[Path], runs: int, threads: int, iterations: int) -> dict[str, list[float]]:
    """parent ms / variant ms for every variant (xmls[1:]) in each regime, one round."""
    requests = [ir_request(core, xml, "CPU", threads) for xml in xmls]
    app_options = ["-hint", "none", "-nstreams", "1", "-nthreads", str(threads), "-api", "sync",
                   "-niter", str(iterations)]
    ms = {
        "one at a time": [median_ms(s) for s in time_interleaved(requests, runs, burst=1, burst_warmup=0)],
        "turns": [median_ms(s) for s in time_interleaved(requests, runs)],
        "benchmark_app": [run_benchmark_app(xml, "CPU", app_options, MEDIAN) for xml in xmls],
    }
    return {regime: [values[0] / v for v in values[1:]] for regime, values in ms.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", type=Path, default=Path("models"))
    parser.add_argument("--parent", default="ssd-mobilenet@1")
    parser.add_argument("--variants", nargs="+", default=["ssd-mobilenet@cp-2.1x", "ssd-mobilenet@cp-4.7x"])
    parser.add_argument("--threads", type=int, default=2, help="threads of every regime (default 2, the LUTs')")
    parser.add_argument("--runs", type=int, default=150, help="timed inferences per model and round, in turns")
    parser.add_argument("--iterations", type=int, default=300, help="benchmark_app -niter")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write every round's speedups here")
    args = parser.parse_args()

    store, core = ModelStore(args.store), ov.Core()
    refs = [args.parent, *args.variants]
    xmls = [store.load(*parse_ref(ref)).xml for ref in refs]
    rounds: list[dict[str, list[float]]] = []
    for index in range(1, args.rounds + 1):
        rounds.append(round_speedups(core, xmls, args.runs, args.threads, args.iterations))
        print(f"round {index}: " + "; ".join(f"{regime} " + " ".join(f"{x:.2f}x" for x in values)
                                             for regime, values in rounds[-1].items()), file=sys.stderr, flush=True)
    print(f"Speedup over {args.parent}, median of {args.rounds} rounds, {args.threads} threads, "
          f"turns of {BURST_WARMUP} untimed + {BURST} timed inferences, OpenVINO {ov.get_version()}")
    print("| variant | " + " | ".join(REGIMES) + " | one at a time / app | turns / app |")
    print("| --- " * (len(REGIMES) + 3) + "|")
    summary = []
    for i, ref in enumerate(args.variants):
        median = {regime: statistics.median(r[regime][i] for r in rounds) for regime in REGIMES}
        app = median["benchmark_app"]
        print(f"| {ref} | " + " | ".join(f"{median[r]:.2f}x" for r in REGIMES)
              + f" | {median['one at a time'] / app:.2f} | {median['turns'] / app:.2f} |")
        summary.append({"variant": ref, **{r: round(median[r], 3) for r in REGIMES}})
    if args.json:
        args.json.write_text(json.dumps({"parent": args.parent, "threads": args.threads, "burst": BURST,
                                         "burst_warmup": BURST_WARMUP, "openvino": ov.get_version(),
                                         "medians": summary, "rounds": rounds}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
