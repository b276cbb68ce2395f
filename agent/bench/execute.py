"""Running the planned pairs: progress with ETA, then JSON, Markdown, plot and MQTT."""

from __future__ import annotations

import argparse
import os
import socket
import sys
import time
from pathlib import Path

import numpy as np
import openvino as ov

from agent import exit_codes
from agent.bench.plan import Pair
from agent.bench.report import markdown_table, plot
from agent.bench.runner import BenchSettings, bench_pair, time_in_turns
from agent.config import AgentConfig
from agent.power import PowerMeter
from models.bench import BenchReport, BenchResult


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _measure(args: argparse.Namespace, pairs: list[Pair], frame: np.ndarray, meter: PowerMeter
             ) -> list[BenchResult]:
    from agent.bench.accuracy import evaluate

    core = ov.Core()
    settings = BenchSettings(iterations=args.iterations, warmup=args.warmup, throughput_s=args.throughput_s,
                             score_threshold=args.score_threshold, paced_runs=args.paced_runs,
                             pace_fps=args.pace_fps, turn_runs=args.turn_runs)
    in_turns: list[list[float] | None] = [None] * len(pairs)
    if args.turns:
        _say(f"timing the latency of {len(pairs)} pairs in turns ({args.iterations} inferences each) ...")
        started = time.perf_counter()
        in_turns = list(time_in_turns(core, [(pair.stored, pair.device) for pair in pairs], frame, settings))
        _say(f"timed in turns in {time.perf_counter() - started:.0f} s")
    results, started = [], time.perf_counter()
    for index, pair in enumerate(pairs, 1):
        _say(f"[{index}/{len(pairs)}] {pair.stored.manifest.ref} on {pair.device} ...")
        result, detector = bench_pair(core, pair.stored, pair.device, frame, meter, settings, in_turns[index - 1])
        if args.accuracy:
            accuracy = evaluate(detector, args.accuracy, args.label, args.score_threshold, args.accuracy_limit)
            result = result.model_copy(update={"accuracy": accuracy})
        results.append(result)
        elapsed = time.perf_counter() - started
        _say(f"[{index}/{len(pairs)}] {result.model} on {result.device}: p50 {result.latency.p50_ms:.2f} ms, "
             f"{result.throughput.fps:.1f} fps; elapsed {elapsed:.0f} s, "
             f"ETA {elapsed / index * (len(pairs) - index):.0f} s")
    return results


def _write_outputs(args: argparse.Namespace, results: list[BenchResult]) -> None:
    report = BenchReport(host=socket.gethostname(), cpu_count=os.cpu_count() or 1, results=results)
    table = markdown_table(results)
    if args.json and str(args.json) == "-":
        print(report.model_dump_json(indent=2))
    elif args.json:
        Path(args.json).write_text(report.model_dump_json(indent=2) + "\n")
    if args.markdown:
        Path(args.markdown).write_text(table)
    elif not (args.json and str(args.json) == "-"):
        print(table, end="")
    if args.plot:
        skipped = plot(results, args.plot)
        _say(f"bench: {skipped}" if skipped else f"bench: plot written to {args.plot}")


def _publish(config: AgentConfig, results: list[BenchResult]) -> bool:
    from agent.bench.publish import BenchPublisher

    with BenchPublisher(config) as publisher:
        return all([publisher.publish(result) for result in results])


def run_pairs(args: argparse.Namespace, pairs: list[Pair], config: AgentConfig | None, frame: np.ndarray) -> int:
    from agent.bench.accuracy import DatasetError

    sysfs = args.sysfs or (config.telemetry.sysfs_root if config else Path("/sys"))
    try:
        results = _measure(args, pairs, frame, PowerMeter(sysfs))
    except DatasetError as exc:
        _say(f"bench: {exc}")
        return exit_codes.CONFIG
    except RuntimeError as exc:  # OpenVINO compile/infer failures
        _say(f"bench: {exc}")
        return exit_codes.FAILURE
    _write_outputs(args, results)
    if config is not None and not _publish(config, results):
        return exit_codes.FAILURE
    return exit_codes.OK
