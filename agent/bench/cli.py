"""`headcount-agent bench`: time model variants from the store on devices; JSON, Markdown, PNG, MQTT.

Exit codes: 0 done, 1 a pair failed or a result could not be published, 78 bad input (model
reference, device, dataset, config).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from agent import exit_codes
from agent.profile.cli import positive
from agent.timing import BURST


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from exc
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{value} must be above 0")
    return value


def _runs(text: str) -> int:
    """argparse type: 0 (none) or an integer >= 1."""
    if text.strip() == "0":
        return 0
    try:
        return positive(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected 0 (none) or a number of runs") from None


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("bench", help="benchmark model variants on devices", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--store", type=Path, default=Path("models"), help="model store root (default models)")
    p.add_argument("--models", nargs="+", metavar="NAME@VERSION", help="variants to bench (default: all)")
    p.add_argument("--devices", nargs="+", metavar="DEVICE", help="OpenVINO devices (default: all available)")
    p.add_argument("--iterations", type=positive, default=300, help="latency runs per pair (default 300)")
    p.add_argument("--warmup", type=int, default=10, help="runs before timing latency (default 10)")
    p.add_argument("--turns", action="store_true",
                   help="time the latency of all variants of a device in turns (10 untimed, then --turn-runs timed "
                        "inferences a turn) so their ratios hold while the machine's speed drifts; no energy")
    p.add_argument("--turn-runs", type=positive, default=BURST,
                   help=f"timed inferences per turn with --turns (default {BURST}; 10 follows faster drift)")
    p.add_argument("--throughput-s", type=_positive_float, default=10.0,
                   help="seconds of async throughput (default 10)")
    p.add_argument("--paced-runs", type=_runs, default=30,
                   help="inferences at a camera's pace, one per frame period (default 30; 0: none)")
    p.add_argument("--pace-fps", type=_positive_float, default=10.0,
                   help="the camera's frame rate for --paced-runs (default 10)")
    p.add_argument("--frame", type=Path, help="image or video (first frame) to feed; default a noise frame")
    p.add_argument("--accuracy", type=Path, metavar="DATASET", help="Pascal VOC directory: add mAP@0.5, count MAE")
    p.add_argument("--accuracy-limit", type=positive, help="evaluate only the first N images")
    p.add_argument("--label", default="person", help="class to evaluate and count (default person)")
    p.add_argument("--score-threshold", type=float, default=0.5, help="counting threshold (default 0.5)")
    p.add_argument("--json", type=Path, metavar="FILE", help="write the results as JSON ('-' for stdout)")
    p.add_argument("--markdown", type=Path, metavar="FILE", help="write the Markdown table here (default stdout)")
    p.add_argument("--plot", type=Path, metavar="PNG", help="write a plot: latency vs mAP, else latency per variant")
    p.add_argument("--config", type=Path, help="agent config: publish each result on <prefix>/<device_id>/bench")
    p.add_argument("--sysfs", type=Path, default=None, help="sysfs root for power sensors (default: config's or /sys)")
    p.set_defaults(func=cmd_bench)


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def read_frame(path: Path | None) -> np.ndarray:
    """BGR frame from an image or the first frame of a video; a fixed noise frame without a path."""
    import cv2

    if path is None:
        return (np.random.default_rng(0).random((576, 768, 3)) * 255).astype(np.uint8)
    frame = cv2.imread(str(path))
    if frame is None:
        capture = cv2.VideoCapture(str(path))
        ok, frame = capture.read()
        capture.release()
        if not ok:
            raise ValueError(f"--frame {path}: not a readable image or video")
    return frame


def cmd_bench(args: argparse.Namespace) -> int:
    from agent.bench.plan import PlanError, plan
    from agent.config import ConfigError

    try:
        pairs, config, frame = plan(args), None, read_frame(args.frame)
        if args.config:
            from agent.config import load_config

            config = load_config(args.config)
    except (PlanError, ConfigError, ValueError) as exc:
        _say(f"bench: {exc}")
        return exit_codes.CONFIG
    from agent.bench.execute import run_pairs

    return run_pairs(args, pairs, config, frame)
