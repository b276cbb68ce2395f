"""Frames resized on the camera's reader ("ahead", kept) against resized by the worker between two
inferences ("between", before), in one process, rounds alternated.

Each round runs `cameras` readers of data/vtest.avi (consumer-paced, looping) with their workers on the
real pool and model for `seconds`, once each way; prints each round's aggregate fps and the median of
the per-round ratios ahead / between.

    .venv/bin/python docs/evidence/resize-ahead/ab.py ssd-squeezenet 384x288-int8 --cameras 1 --rounds 6

Tried and not kept (no gain beyond the noise: 0.994x with one camera, 1.036x with four; ab-*.txt): it ran
against commit c7acd1a, where `CameraReader.prepare` existed (`git checkout c7acd1a` to run it again).
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time

import openvino as ov

from agent.config import CameraConfig, ModelConfig, OccupancyConfig, TrackerConfig
from agent.control import prepare_model
from agent.count_path import CountPath
from agent.pipeline import ActiveModel, CameraWorker
from agent.stream import CameraReader
from agent.telemetry import StageStats
from models.store import ModelStore


class ResizeBetweenWorker(CameraWorker):
    """The step before: the reader hands over the decoded frame only; the pool resizes it when it starts."""

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003 - the parent's signature
        super().__init__(*args, **kwargs)
        self.reader.prepare = None


def frames_per_second(worker_class: type[CameraWorker], active: ActiveModel, cameras: int,
                      seconds: float) -> float:
    stop = threading.Event()
    workers, readers = [], []
    for i in range(cameras):
        reader = CameraReader(CameraConfig(name=f"c{i}", source="data/vtest.avi", realtime=False, loop=True), stop)
        path = CountPath(reader.config, TrackerConfig(), OccupancyConfig())
        workers.append(worker_class(reader, path, active, StageStats(), lambda *_: None, 0.0, stop, lambda *_: None))
        readers.append(reader)
    for thread in readers + workers:
        thread.start()
    while min(w.frames_processed for w in workers) < 10:
        time.sleep(0.01)
    frames, started = sum(w.frames_processed for w in workers), time.monotonic()
    time.sleep(seconds)
    rate = (sum(w.frames_processed for w in workers) - frames) / (time.monotonic() - started)
    stop.set()
    for thread in workers + readers:
        thread.join(timeout=5)
    return rate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("name")
    parser.add_argument("version")
    parser.add_argument("--cameras", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    store = ModelStore("models")
    running, _, _ = prepare_model(store, ov.Core(), ModelConfig(store=store.root, devices=["CPU"]), args.name,
                                  args.version, cameras=args.cameras)
    active = ActiveModel(running)
    ratios = []
    for r in range(args.rounds):
        order = [CameraWorker, ResizeBetweenWorker] if r % 2 else [ResizeBetweenWorker, CameraWorker]
        rates = {cls: frames_per_second(cls, active, args.cameras, args.seconds) for cls in order}
        ahead, between = rates[CameraWorker], rates[ResizeBetweenWorker]
        ratios.append(ahead / between)
        print(f"round {r + 1}: {args.cameras} camera(s), resize between {between:.1f} fps, ahead {ahead:.1f} fps, "
              f"ratio {ratios[-1]:.3f}", flush=True)
    print(f"{args.name}@{args.version}, {args.cameras} camera(s): ahead / between, median of {args.rounds} rounds "
          f"{statistics.median(ratios):.3f} (range {min(ratios):.3f}-{max(ratios):.3f})")


if __name__ == "__main__":
    main()
