"""Latency at a camera's pace: one synchronous inference per frame period, against back to back.

`headcount-agent bench` and benchmark_app time inferences back to back. A counting agent infers once per
frame and idles in between (a 10 fps camera: about 95 ms of every 100), and an idle runtime's worker
threads go to sleep. This script times the same IRs both ways with each thread count, in rounds, and
prints the medians and each variant's speedup over the first model in each regime.

    .venv/bin/python bench/paced_latency.py --models ssd-mobilenet@1 ssd-mobilenet@cp-2.1x ssd-mobilenet@cp-4.7x
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import openvino as ov

from agent.timing import ir_request, median_ms, reported_int, time_inferences, time_paced
from models.store import ModelStore, parse_ref


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", type=Path, default=Path("models"))
    parser.add_argument("--models", nargs="+", default=["ssd-mobilenet@1", "ssd-mobilenet@cp-2.1x",
                                                        "ssd-mobilenet@cp-4.7x"])
    parser.add_argument("--fps", type=float, default=10.0, help="the camera's frame rate (default 10, vtest.avi's)")
    parser.add_argument("--threads", type=int, nargs="+", default=[2, 1])
    parser.add_argument("--runs", type=int, default=50, help="inferences per model, regime and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    store, core = ModelStore(args.store), ov.Core()
    xmls = [store.load(*parse_ref(ref)).xml for ref in args.models]
    results = []
    for threads in args.threads:
        requests = [ir_request(core, xml, "CPU", threads) for xml in xmls]
        ran_with = reported_int(requests[0].get_compiled_model(), "INFERENCE_NUM_THREADS")
        rounds: list[dict[str, list[float]]] = []
        for index in range(1, args.rounds + 1):
            ms = {"back to back": [median_ms(time_inferences(r, args.runs)) for r in requests],
                  "paced": [median_ms(time_paced(r, args.runs, 1 / args.fps)) for r in requests]}
            rounds.append(ms)
            print(f"{threads} threads, round {index}: " + "; ".join(
                f"{regime} " + " ".join(f"{v:.2f}" for v in values) for regime, values in ms.items()),
                file=sys.stderr, flush=True)
        for i, ref in enumerate(args.models):
            row = {"model": ref, "threads": ran_with}
            for regime in ("back to back", "paced"):
                row[f"{regime} ms"] = round(statistics.median(r[regime][i] for r in rounds), 3)
                row[f"{regime} speedup"] = round(statistics.median(r[regime][0] / r[regime][i] for r in rounds), 3)
            results.append(row)
    print(f"Synchronous latency, p50 ms (median of {args.rounds} rounds of {args.runs}): back to back, and paced at "
          f"{args.fps:g} fps; speedup over {args.models[0]} in each (median of per-round ratios). "
          f"OpenVINO {ov.get_version()}")
    print("| model | threads | back to back ms | speedup | paced ms | speedup |")
    print("| --- | --- | --- | --- | --- | --- |")
    for row in results:
        print(f"| {row['model']} | {row['threads']} | {row['back to back ms']:.2f} | "
              f"{row['back to back speedup']:.2f}x | {row['paced ms']:.2f} | {row['paced speedup']:.2f}x |")
    if args.json:
        args.json.write_text(json.dumps({"fps": args.fps, "runs": args.runs, "rounds": args.rounds,
                                         "results": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
