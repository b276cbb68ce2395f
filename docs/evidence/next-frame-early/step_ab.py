"""The worker's step as kept ("old") against the one tried and not kept ("new"), in one process.

old: wait for the device to finish the frame in flight, then take the newest frame and start it.
new: take a waiting frame at once and start it while the last is still on the device.
Alternated `rounds` times, one camera, the sample clip consumer-paced, the real pool and model.

    .venv/bin/python docs/evidence/next-frame-early/step_ab.py ssd-squeezenet 384x288-int8 6
"""

from __future__ import annotations

import statistics
import sys
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


class EarlyStartWorker(CameraWorker):
    """The tried step: the next frame goes in before the device has finished the one in flight."""

    def _step(self, in_flight, frame):  # noqa: ANN001, ANN202 - the parent's signature
        if in_flight is not None:
            frame = self.reader.slot.take(timeout=0.0)
            if frame is not None:
                started = self._start(frame, wait=False)
                if started is not None:
                    self._finish(in_flight)
                    return started
                self.reader.slot.put(frame)  # no idle request: back in the slot for the kept step
        return super()._step(in_flight, None if in_flight is not None else frame)


def frames_per_second(worker_class: type[CameraWorker], active: ActiveModel, seconds: float = 4.0) -> float:
    stop = threading.Event()
    reader = CameraReader(CameraConfig(name="c", source="data/vtest.avi", realtime=False, loop=True), stop)
    path = CountPath(reader.config, TrackerConfig(), OccupancyConfig())
    worker = worker_class(reader, path, active, StageStats(), lambda *_: None, 0.0, stop, lambda *_: None)
    reader.start()
    worker.start()
    while worker.frames_processed < 10:
        time.sleep(0.01)
    frames, started = worker.frames_processed, time.monotonic()
    time.sleep(seconds)
    rate = (worker.frames_processed - frames) / (time.monotonic() - started)
    stop.set()
    worker.join()
    reader.join(timeout=5)
    return rate


def main(name: str, version: str, rounds: int) -> None:
    store = ModelStore("models")
    config = ModelConfig(store=store.root, devices=["CPU"])
    running, _, _ = prepare_model(store, ov.Core(), config, name, version, cameras=1)
    active = ActiveModel(running)
    fps: dict[str, list[float]] = {"old": [], "new": []}
    for r in range(rounds):
        for key in ("old", "new") if r % 2 == 0 else ("new", "old"):
            fps[key].append(frames_per_second(CameraWorker if key == "old" else EarlyStartWorker, active))
        print(f"round {r + 1}: old {fps['old'][-1]:.1f} fps, new {fps['new'][-1]:.1f} fps, "
              f"ratio {fps['new'][-1] / fps['old'][-1]:.3f}", flush=True)
    ratios = [new / old for new, old in zip(fps["new"], fps["old"], strict=True)]
    print(f"{name}@{version}: old median {statistics.median(fps['old']):.1f}, new median "
          f"{statistics.median(fps['new']):.1f}, new/old median of per-round ratios {statistics.median(ratios):.3f} "
          f"(range {min(ratios):.3f}-{max(ratios):.3f})")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 6)
