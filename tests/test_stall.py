"""A hung device: frames keep arriving, no inference finishes, the agent exits 75 for a restart.

A hung accelerator cannot be produced here, so the device is a stand-in: the real compiled CPU detector
whose requests never return (as a wedged USB stick's). The run loop, liveness and exit path are real.
"""

from __future__ import annotations

import threading
from pathlib import Path

from agent import exit_codes
from agent.config import load_config
from agent.daemon import Agent
from agent.detector import Detector
from agent.pipeline import RunningModel
from tests.helpers import agent_config


class WedgedStick(Detector):
    release = threading.Event()

    def session(self):  # noqa: ANN201
        self.release.wait()  # never returns while the test runs
        raise RuntimeError("device gone")


class AgentOnWedgedStick(Agent):
    def load_model(self) -> None:
        super().load_model()
        assert self.active is not None
        real = self.active.detector
        wedged = WedgedStick(real.stored, real.compiled, "NPU", 0.0)
        self.active.swap(RunningModel(wedged, self.active.current.class_id))


def test_stalled_inference_exits_75(tmp_path: Path, broker, clip: Path, store) -> None:
    path = agent_config(tmp_path, broker.port, clip, loop=True, realtime=True, stall_exit_s=2)
    agent = AgentOnWedgedStick(load_config(path), path.read_bytes(), threading.Event())
    try:
        assert agent.run() == exit_codes.STALLED
    finally:
        WedgedStick.release.set()
    assert agent.workers[0].reader.frames_read > 0 and agent.workers[0].frames_processed == 0
