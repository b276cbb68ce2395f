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
from agent.notify import Notifier
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
            f"model {stored.manifest.ref} has no label {label!r} "
            f"(its labels: {sorted(stored.manifest.labels.values())})"
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


class Liveness:
    """What the workers did since the last check.

    'progress': frames were inferred; 'idle': nothing to infer (no camera delivers frames);
    'behind': frames arrive but none was inferred for `BEHIND_S`; 'stalled': the same for `stall_s`.
    """

    BEHIND_S = 5.0

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.announced = False
        self._processed = 0
        self._read_at_progress = 0
        self._last_progress = time.monotonic()
        self._last_watchdog = 0.0

    def check(self, workers: list[CameraWorker], stall_s: float) -> str:
        processed = sum(w.frames_processed for w in workers)
        read = sum(w.reader.frames_read for w in workers)
        now = time.monotonic()
        if processed != self._processed:
            self._processed, self._last_progress, self._read_at_progress = processed, now, read
            return "progress"
        if read == self._read_at_progress:
            return "idle"
        waited = now - self._last_progress
        return "stalled" if waited > stall_s else "behind" if waited > self.BEHIND_S else "progress"

    def watchdog_due(self, interval_s: float) -> bool:
        now = time.monotonic()
        if now - self._last_watchdog >= interval_s:
            self._last_watchdog = now
            return True
        return False


@dataclass
class RunSummary:
    frames_processed: dict[str, int]
    max_count: dict[str, int]
    steady_fps: dict[str, float | None]
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
        self.notifier = Notifier()
        self.liveness = Liveness()

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
        code = exit_codes.OK
        while not self.stop.is_set():
            if all(not w.is_alive() for w in self.workers):
                log.info("all cameras have ended")
                break
            if self.supervise() == "stalled":
                code = exit_codes.STALLED
                break
            if time.monotonic() >= next_telemetry:
                self.publish_telemetry()
                next_telemetry += self.config.telemetry.interval_s
            self.stop.wait(0.2)
        self.shutdown(started)
        return code

    def supervise(self) -> str:
        """Tell systemd how we are doing; detect an inference stall. Returns the liveness verdict."""
        assert self.active is not None
        verdict = self.liveness.check(self.workers, self.config.stall_exit_s)
        detector = self.active.detector
        if verdict == "progress" and self._processed_any():
            if not self.liveness.announced:
                self.liveness.announced = True
                self.notifier.ready(f"counting with {detector.manifest.ref} on {detector.device}")
                log.info("ready: first frames processed")
        if verdict in ("progress", "idle") and self.notifier.watchdog_interval_s is not None \
                and self.liveness.watchdog_due(self.notifier.watchdog_interval_s):
            self.notifier.watchdog()
            fps = sum(w.frames_processed for w in self.workers) / max(time.monotonic() - self.liveness.started, 1e-6)
            self.notifier.status(f"{detector.manifest.ref} on {detector.device}, {fps:.1f} fps average")
        if verdict == "stalled":
            log.error("no inference for %.0f s while frames arrive: exiting so the service manager restarts us",
                      self.config.stall_exit_s)
        return verdict

    def _processed_any(self) -> bool:
        return any(w.frames_processed for w in self.workers)

    def publish_telemetry(self) -> None:
        assert self.active is not None and self.link is not None
        message = self.telemetry.sample(
            self.active.detector.manifest.ref, self.active.detector.device,
            {w.camera: w.counters() for w in self.workers},
        )
        self.link.publish("telemetry", message)

    def shutdown(self, started: float) -> None:
        """Stop reading, let in-flight frames finish, flush, publish `offline`, disconnect."""
        self.notifier.stopping()
        self.stop.set()
        for worker in self.workers:
            worker.join(timeout=5)
            worker.reader.join(timeout=2)
        self.summary = RunSummary(
            {w.camera: w.frames_processed for w in self.workers},
            {w.camera: w.max_count for w in self.workers},
            {w.camera: w.steady_fps() for w in self.workers},
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
