"""Cross-check `headcount-agent bench` against OpenVINO's benchmark_app on the same model and device.

Both tools run in alternation (ours, benchmark_app latency, benchmark_app throughput; repeated
`--rounds` times) so that the load of a shared machine hits both alike; the medians over the rounds
are compared. Latency: our synchronous p50 vs benchmark_app `-hint latency -api sync -niter N`
median. Throughput: ours (THROUGHPUT hint, optimal async requests) vs benchmark_app `-hint throughput`.

    .venv/bin/python bench/bench_vs_benchmark_app.py [--model person-ssdlite@1] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
import openvino as ov

from agent.bench.report import markdown_table
from agent.bench.runner import BenchSettings, bench_pair
from agent.power import PowerMeter
from models.store import ModelStore, parse_ref

MEDIAN = re.compile(r"Median:\s+([\d.]+)\s*ms")
THROUGHPUT = re.compile(r"Throughput:\s+([\d.]+)\s*FPS")


def benchmark_app() -> str:
    found = Path(sys.executable).with_name("benchmark_app")
    return str(found) if found.exists() else shutil.which("benchmark_app") or "benchmark_app"


def run_benchmark_app(xml: Path, device: str, extra: list[str], pattern: re.Pattern[str]) -> float:
    cmd = [benchmark_app(), "-m", str(xml), "-d", device, *extra]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    match = pattern.search(out)
    if match is None:
        raise RuntimeError(f"no {pattern.pattern!r} in the output of {' '.join(cmd)}")
    return float(match.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", type=Path, default=Path("models"))
    parser.add_argument("--model", default="person-ssdlite@1")
    parser.add_argument("--device", default="CPU")
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--throughput-s", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--markdown", type=Path, help="write the bench table of every round here")
    args = parser.parse_args()

    stored = ModelStore(args.store).load(*parse_ref(args.model))
    core, meter = ov.Core(), PowerMeter()
    frame = (np.random.default_rng(0).random((576, 768, 3)) * 255).astype(np.uint8)
    settings = BenchSettings(iterations=args.iterations, throughput_s=args.throughput_s)
    rows: dict[str, list[float]] = {"ours_p50_ms": [], "app_p50_ms": [], "ours_fps": [], "app_fps": []}
    results = []
    for index in range(1, args.rounds + 1):
        result, _ = bench_pair(core, stored, args.device, frame, meter, settings)
        results.append(result)
        rows["ours_p50_ms"].append(result.latency.p50_ms)
        rows["ours_fps"].append(result.throughput.fps)
        rows["app_p50_ms"].append(run_benchmark_app(
            stored.xml, args.device, ["-hint", "latency", "-api", "sync", "-niter", str(args.iterations)], MEDIAN))
        rows["app_fps"].append(run_benchmark_app(
            stored.xml, args.device, ["-hint", "throughput", "-t", str(int(args.throughput_s))], THROUGHPUT))
        print(f"round {index}: " + ", ".join(f"{k} {v[-1]:.2f}" for k, v in rows.items()), file=sys.stderr)
    med = {key: statistics.median(values) for key, values in rows.items()}
    summary = {**{k: round(v, 3) for k, v in med.items()},
               "p50_ratio": round(med["ours_p50_ms"] / med["app_p50_ms"], 3),
               "fps_ratio": round(med["ours_fps"] / med["app_fps"], 3),
               "rounds": rows, "model": args.model, "device": args.device, "openvino": ov.get_version()}
    print(f"{args.model} on {args.device}, median of {args.rounds} alternating rounds")
    print(f"  p50 latency: bench {med['ours_p50_ms']:.2f} ms, benchmark_app {med['app_p50_ms']:.2f} ms, "
          f"ratio {summary['p50_ratio']:.3f}")
    print(f"  throughput:  bench {med['ours_fps']:.1f} fps, benchmark_app {med['app_fps']:.1f} fps, "
          f"ratio {summary['fps_ratio']:.3f}")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    if args.markdown:
        args.markdown.write_text(markdown_table(results))
    within = all(0.9 <= summary[k] <= 1.1 for k in ("p50_ratio", "fps_ratio"))
    print("  agreement within 10 %: " + ("yes" if within else "NO"))
    return 0 if within else 1


if __name__ == "__main__":
    raise SystemExit(main())
