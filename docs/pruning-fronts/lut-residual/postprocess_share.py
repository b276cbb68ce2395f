"""DetectionOutput's share of each model's latency on the bench's noise frame and on real vtest frames:
the bench's preprocessing (`Detector.open`), PERF_COUNT, the LUT's 2 threads, shuffled interleaved rounds.
An experiment: is the data-dependent NMS part of what the LUT misses at depth?

    .venv/bin/python docs/pruning-fronts/lut-residual/postprocess_share.py runs/v6/store ssd-mobilenet 1 cp-2.1x ...
"""

from __future__ import annotations

import argparse
import random
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import openvino as ov

from agent.bench.cli import read_frame
from agent.bench.runner import input_tensor
from agent.detector import Detector
from models.store import ModelStore


def vtest_frames(path: Path, indices: tuple[int, ...]) -> dict[str, np.ndarray]:
    capture, frames = cv2.VideoCapture(str(path)), {}
    for index in range(max(indices) + 1):
        ok, frame = capture.read()
        if ok and index in indices:
            frames[f"vtest {index}"] = frame
    capture.release()
    return frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("store", type=Path)
    parser.add_argument("name")
    parser.add_argument("versions", nargs="+")
    parser.add_argument("--video", type=Path, default=Path("data/vtest.avi"))
    parser.add_argument("--rounds", type=int, default=8)
    args = parser.parse_args()
    store, core = ModelStore(args.store), ov.Core()
    frames = {"noise": read_frame(None), **vtest_frames(args.video, (100, 400, 650))}
    config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": 2, "NUM_STREAMS": 1, "PERF_COUNT": "YES"}
    detectors = {v: Detector.open(store.load(args.name, v), "CPU", core, config) for v in args.versions}
    requests = {v: d.compiled.create_infer_request() for v, d in detectors.items()}
    best: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    keys, rng = [(v, f) for v in args.versions for f in frames], random.Random(0)
    for _ in range(args.rounds):
        rng.shuffle(keys)
        for version, frame in keys:
            request = requests[version]
            request.set_input_tensor(input_tensor(detectors[version], frames[frame]))
            runs = []
            for _ in range(5):
                request.infer()
                infos = request.profiling_info
                runs.append((sum(i.real_time.total_seconds() for i in infos if i.node_type == "DetectionOutput"),
                             sum(i.real_time.total_seconds() for i in infos)))
            best[(version, frame)].append(min(runs, key=lambda r: r[1]))
    print("| model | " + " | ".join(f"{f}: DetectionOutput ms (all nodes ms)" for f in frames) + " |")
    print("| --- |" + " --- |" * len(frames))
    for version in args.versions:
        cells = []
        for frame in frames:
            runs = best[(version, frame)]
            cells.append(f"{np.percentile([r[0] for r in runs], 25) * 1e3:.3f} "
                         f"({np.percentile([r[1] for r in runs], 25) * 1e3:.2f})")
        print(f"| {version} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
