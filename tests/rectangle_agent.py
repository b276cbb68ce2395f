"""The real agent with a stand-in detector that sees the white rectangles of `tests.helpers.write_clip` as people.

The SSD does not see rectangles as people, and counting crossings needs someone to cross a line. This
detector finds the clip's white boxes by thresholding, so everything after detection (tracker, line,
totals, outbox, MQTT, restarts) is the real code, on crossings known in advance.

    python -m tests.rectangle_agent CONFIG      runs like `headcount-agent run --config CONFIG`
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import cv2
import numpy as np

from agent.cli import setup_logging
from agent.config import load_config
from agent.control import check_label_id
from agent.daemon import Agent, install_signal_handlers
from agent.detections import Detections
from agent.detector import Detector, StageTimes
from agent.pipeline import ActiveModel, RunningModel
from models.store import ModelStore, StoredModel
from tests.helpers import ROOT

MIN_AREA = 50
"""Pixels a white blob needs to be a "person" (the frame number drawn in black never is one)."""


class RectangleSession:
    """Finds bright rectangles on the clip's grey background; one detection per blob."""

    def __init__(self, class_id: int) -> None:
        self.class_id = class_id

    def start(self, frame: np.ndarray) -> _Found:
        return _Found(self, frame)

    def try_start(self, frame: np.ndarray) -> _Found:
        return _Found(self, frame)

    def run(self, frame: np.ndarray, score_threshold: float) -> tuple[Detections, StageTimes]:
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        _, mask = cv2.threshold(gray, 200, 255, cv2.THRESH_BINARY)
        _, _, stats, _ = cv2.connectedComponentsWithStats(mask)
        boxes = [[x, y, x + w, y + h] for x, y, w, h, area in stats[1:] if area >= MIN_AREA]
        n = len(boxes)
        return Detections(np.array(boxes, np.float32).reshape(-1, 4), np.full(n, 0.99), np.full(n, self.class_id)), \
            StageTimes()


class _Found:
    """A "started" detection of the stand-in: found when asked for."""

    def __init__(self, session: RectangleSession, frame: np.ndarray) -> None:
        self.session, self.frame = session, frame

    def wait(self) -> None:
        pass

    def result(self, score_threshold: float) -> tuple[Detections, StageTimes]:
        return self.session.run(self.frame, score_threshold)


class RectangleDetector(Detector):
    """The store's model for its manifest (name, labels), the rectangles for detections; nothing compiled."""

    def __init__(self, stored: StoredModel, class_id: int) -> None:  # noqa: D107 - no compile: nothing is inferred
        self.stored = stored
        self.device = "CPU"
        self.compile_s = 0.0
        self.class_id = class_id

    def session(self) -> RectangleSession:  # type: ignore[override]
        return RectangleSession(self.class_id)

    def warm_up(self, runs: int = 2) -> float:
        return 0.0


def rectangle_model(store: ModelStore, name: str = "person-ssdlite", version: str = "1",
                    label: str = "person") -> RunningModel:
    stored = store.load(name, version)
    class_id = check_label_id(stored, label)
    return RunningModel(RectangleDetector(stored, class_id), class_id)


class RectangleAgent(Agent):
    """`Agent` whose model is the rectangle detector."""

    def load_model(self) -> None:
        m = self.config.model
        self.active = ActiveModel(rectangle_model(self.store, m.name, m.version, m.label))


def start(config: Path) -> subprocess.Popen:
    """Run it as a service manager would (`tests.helpers.start_agent`); its log goes to `agent.log`."""
    log = open(config.parent / "agent.log", "a")
    return subprocess.Popen([sys.executable, "-m", "tests.rectangle_agent", str(config)], cwd=ROOT, stdout=log,
                            stderr=subprocess.STDOUT, text=True)


def main(config_path: str) -> int:
    setup_logging()
    stop = threading.Event()
    install_signal_handlers(stop)
    return RectangleAgent(load_config(config_path), Path(config_path).read_bytes(), stop).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
