"""Device fallback: a device that fails mid-run hands over to the next one in the preference list.

No NPU or Neural Compute Stick exists here, so the failing device is a stand-in: a real compiled CPU
detector that reports device "NPU" and whose requests raise as a lost USB stick does. Everything
else (worker, controller, store, compile on the fallback device, the switch) is the real code.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from agent.config import CameraConfig, ModelConfig, OccupancyConfig, TrackerConfig
from agent.control import ControlContext, Controller, prepare_model
from agent.count_path import CountPath
from agent.detector import Detector
from agent.pipeline import ActiveModel, CameraWorker, RunningModel
from agent.stream import CameraReader
from agent.telemetry import StageStats
from models.store import ModelStore


class LostStick(Detector):
    """A detector on a device that has just been unplugged."""

    def session(self):  # noqa: ANN201
        raise RuntimeError("[NPU] device lost: failed to submit the request")


def test_inference_error_falls_back_to_the_next_device(store: ModelStore, clip: Path) -> None:
    import openvino as ov

    core = ov.Core()
    config = ModelConfig(store=store.root, devices=["NPU", "CPU"])
    healthy, _, _ = prepare_model(store, core, config, "person-ssdlite", "1", "CPU")
    failing = LostStick(healthy.detector.stored, healthy.detector.compiled, "NPU", 0.0)
    active = ActiveModel(RunningModel(failing, healthy.class_id))
    stop = threading.Event()
    states: list[str] = []
    reader = CameraReader(CameraConfig(name="cam", source=str(clip), realtime=False, loop=True), stop)
    path = CountPath(reader.config, TrackerConfig(), OccupancyConfig())
    worker = CameraWorker(reader, path, active, StageStats(),
                          lambda *queued: None, 10.0, stop, lambda cam, exc: controller.device_failed("NPU", exc))
    ctx = ControlContext(store=store, core=core, model_config=config, active=active, workers=[worker],
                         publish_result=lambda r: None, publish_state=lambda: states.append(active.detector.device),
                         status=dict)
    controller = Controller(ctx, stop)
    for thread in (controller, reader, worker):
        thread.start()
    try:
        deadline = time.monotonic() + 60
        while worker.frames_processed < 5 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
    assert active.detector.device == "CPU" and states == ["CPU"]
    assert worker.frames_processed >= 5
