"""The agent daemon: wires config, model, cameras, counting, MQTT and telemetry, and runs until stopped.

Start-up order: model (compile, warm up) -> MQTT link -> camera readers -> workers -> telemetry loop.
Shutdown runs in reverse. One stop event drives every loop; SIGTERM and SIGINT set it.
"""

from __future__ import annotations

import hashlib
import logging
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import openvino as ov

from agent import __version__, exit_codes
from agent.config import AgentConfig
from agent.counting import CameraCounter
from agent.detector import Detector
from agent.devices import choose_device
from agent.mqtt import MqttLink
from agent.outbox import CountOutbox
from agent.pipeline import ActiveModel, CameraWorker
from agent.stream import CameraReader
from agent.telemetry import TelemetrySampler
from agent.topics import StateMessage, Topics
from models.store import ModelStore, StoredModel

log = logging.getLogger(__name__)

COUNT_HEARTBEAT_S = 10.0
SHUTDOWN_FLUSH_S = 5.0


class ModelUnusable(Exception):
    """The configured model cannot run with this config (missing, corrupted, wrong labels)."""


def check_label(stored: StoredModel, label: str) -> int:
    """Class id of the counted label in this model, or raise naming the model's labels."""
    class_id = stored.manifest.label_id(label)
    if class_id is None:
        raise ModelUnusable(
            f"model {stored.manifest.ref} has no label {label!r} (its labels: {sorted(stored.manifest.labels.values())})"
        )
    return class_id


def open_detector(stored: StoredModel, devices: list[str], hint: str, core: ov.Core,
                  cache_dir: Path | None = None) -> Detector:
    choice = choose_device(devices, core.available_devices)
    (log.warning if choice.fell_back else log.info)("device: %s", choice.reason)
    config: dict[str, str] = {"PERFORMANCE_HINT": hint}
    if cache_dir is not None:
        config["CACHE_DIR"] = str(cache_dir)
    detector = Detector.open(stored, choice.device, core, config)
    detector.warm_up()
    return detector


@dataclass
class RunSummary:
    frames_processed: dict[str, int]
    max_count: dict[str, int]
    seconds: float


class Agent:
    """One running agent. `run()` blocks until `stop` is set or every file camera has ended."""

    def __init__(self, config: AgentConfig, config_bytes: bytes = b"", stop: threading.Event | None = None) -> None:
        self.config = config
        self.config_sha256 = hashlib.sha256(config_bytes).hexdigest()
        self.stop = stop or threading.Event()
        self.core = ov.Core()
        self.store = ModelStore(config.model.store)
        self.topics = Topics(config.mqtt.prefix, config.device_id)
        self.telemetry = TelemetrySampler(str(config.telemetry.sysfs_root))
        self.active: ActiveModel | None = None
        self.link: MqttLink | None = None
        self.outbox: CountOutbox | None = None
        self.workers: list[CameraWorker] = []
        self.summary: RunSummary | None = None

    # ---- start-up -------------------------------------------------------------------------------
    def load_model(self) -> int:
        """Load and compile the configured model; returns the class id counted. Raises ModelUnusable."""
        from models.store import ModelStoreError

        m = self.config.model
        try:
            stored = self.store.load(m.name, m.version)
        except ModelStoreError as exc:
            raise ModelUnusable(str(exc)) from None
        class_id = check_label(stored, m.label)
        detector = open_detector(stored, m.devices, m.performance_hint, self.core, m.cache_dir)
        self.active = ActiveModel(detector)
        return class_id

    def state_message(self) -> StateMessage:
        assert self.active is not None
        return StateMessage(
            model=self.active.detector.manifest.ref, device=self.active.detector.device, since=self.active.since,
            config_sha256=self.config_sha256, cameras=[c.name for c in self.config.cameras],
            agent_version=__version__,
        )

    def publish_state(self) -> None:
        if self.link is not None and self.active is not None:
            self.link.publish("state", self.state_message())

    def start_link(self) -> None:
        client_id = self.config.mqtt.client_id or f"headcount-{self.config.device_id}"
        self.link = MqttLink(self.config.mqtt, self.topics, client_id)
        self.link.on_connect(self.publish_state)
        self.outbox = CountOutbox(self.link)
        self.link.start()

    def start_cameras(self, class_id: int) -> None:
        assert self.active is not None and self.outbox is not None
        for camera in self.config.cameras:
            reader = CameraReader(camera, self.stop)
            counter = CameraCounter(camera, self.config.tracker, class_id)
            worker = CameraWorker(
                reader, counter, self.active, self.telemetry.stages, self.outbox.put,
                self.config.model.score_threshold, COUNT_HEARTBEAT_S, self.stop, self._on_infer_error,
            )
            reader.start()
            worker.start()
            self.workers.append(worker)

    def _on_infer_error(self, camera: str, exc: Exception) -> None:
        """Inference errors are logged by the worker; device fallback comes with the reliability work."""

    # ---- main loop ------------------------------------------------------------------------------
    def run(self) -> int:
        started = time.monotonic()
        class_id = self.load_model()
        self.start_link()
        self.start_cameras(class_id)
        next_telemetry = time.monotonic() + self.config.telemetry.interval_s
        while not self.stop.is_set():
            if all(not w.is_alive() for w in self.workers):
                log.info("all cameras have ended")
                break
            if time.monotonic() >= next_telemetry:
                self.publish_telemetry()
                next_telemetry += self.config.telemetry.interval_s
            self.stop.wait(0.2)
        self.shutdown(started)
        return exit_codes.OK

    def publish_telemetry(self) -> None:
        assert self.active is not None and self.link is not None
        message = self.telemetry.sample(
            self.active.detector.manifest.ref, self.active.detector.device,
            {w.camera: w.counters() for w in self.workers},
        )
        self.link.publish("telemetry", message)

    def shutdown(self, started: float) -> None:
        """Stop reading, let in-flight frames finish, flush, publish `offline`, disconnect."""
        self.stop.set()
        for worker in self.workers:
            worker.join(timeout=5)
            worker.reader.join(timeout=2)
        self.summary = RunSummary(
            {w.camera: w.frames_processed for w in self.workers},
            {w.camera: w.max_count for w in self.workers},
            time.monotonic() - started,
        )
        if self.link is not None:
            if self.workers:
                self.publish_telemetry()
            assert self.outbox is not None
            self.outbox.flush(SHUTDOWN_FLUSH_S)
            self.link.stop(SHUTDOWN_FLUSH_S)
        log.info("stopped: %s frames processed in %.1f s", self.summary.frames_processed, self.summary.seconds)


def install_signal_handlers(stop: threading.Event) -> None:
    def handler(signum: int, _frame: object) -> None:
        log.info("received %s; shutting down", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
