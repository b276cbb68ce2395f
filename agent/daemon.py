"""The agent daemon: wires config, model, cameras, counting, MQTT and telemetry, and runs until stopped.

Start-up order: model (verify, compile, warm up) -> MQTT link and outbox -> controller -> camera
readers and workers -> main loop (liveness, telemetry). Shutdown runs in reverse: stop reading, let
in-flight frames finish, flush the outbox (bounded), publish `offline`, disconnect. One stop event
drives every loop; SIGTERM and SIGINT set it.
"""

from __future__ import annotations

import hashlib
import logging
import signal
import threading
import time
from dataclasses import dataclass
from typing import Any

import openvino as ov

from agent import __version__, exit_codes
from agent.capture import Opener, open_capture
from agent.commands import CommandResult
from agent.config import AgentConfig
from agent.control import ControlContext, Controller, ModelUnusable, prepare_model
from agent.count_path import CountPath
from agent.count_writer import CLOSE_S, CountWriter
from agent.homeassistant import HomeAssistantDiscovery
from agent.liveness import Liveness
from agent.mqtt import MqttLink
from agent.notify import Notifier
from agent.outbox import CountOutbox
from agent.pipeline import ActiveModel, CameraWorker
from agent.snapshot import Snapshots
from agent.stream import CameraReader
from agent.telemetry import TelemetrySampler
from agent.topics import StateMessage, Topics
from agent.totals import ResetPolicy, TotalsKeeper
from models.store import ModelStore

log = logging.getLogger(__name__)

COUNT_HEARTBEAT_S = 10.0
STATUS_INTERVAL_S = 10.0  # STATUS= for `systemctl status` when no watchdog sets the pace

__all__ = ["Agent", "ModelUnusable", "RunSummary", "install_signal_handlers"]


@dataclass
class RunSummary:
    frames_processed: dict[str, int]
    max_count: dict[str, int]
    steady_fps: dict[str, float | None]
    seconds: float


class Agent:
    """One running agent. `run()` blocks until `stop` is set or every file camera has ended.

    `opener` makes each camera's capture (`agent.capture.open_capture`; a benchmark replays frames with its own).
    """

    def __init__(self, config: AgentConfig, config_bytes: bytes = b"", stop: threading.Event | None = None,
                 opener: Opener = open_capture) -> None:
        self.config = config
        self.opener = opener
        self.config_sha256 = hashlib.sha256(config_bytes).hexdigest()
        self.stop = stop or threading.Event()
        self.core = ov.Core()
        self.store = ModelStore(config.model.store)
        self.topics = Topics(config.mqtt.prefix, config.device_id)
        self.telemetry = TelemetrySampler(str(config.telemetry.sysfs_root))
        self.notifier = Notifier()
        self.liveness = Liveness()
        self.active: ActiveModel | None = None
        self.link: MqttLink | None = None
        self.outbox: CountOutbox | None = None
        self.writer: CountWriter | None = None
        self.controller: Controller | None = None
        self.workers: list[CameraWorker] = []
        self.snapshots: Snapshots | None = None
        self.summary: RunSummary | None = None
        self.cache_dir = config.model.cache_dir or config.queue.path.parent / "ov-cache"

    # ---- start-up -------------------------------------------------------------------------------
    def load_model(self) -> None:
        """Verify, check and compile the configured model. Raises ModelUnusable."""
        m = self.config.model
        running, compile_ms, _ = prepare_model(self.store, self.core, m, m.name, m.version, cache_dir=self.cache_dir,
                                               cameras=len(self.config.cameras))
        self.active = ActiveModel(running)
        log.info("model %s on %s ready (compiled in %.0f ms)", m.name + "@" + m.version, running.detector.device,
                 compile_ms)

    def start_link(self) -> None:
        client_id = self.config.mqtt.client_id or f"headcount-{self.config.device_id}"
        self.link = MqttLink(self.config.mqtt, self.topics, client_id, on_command=self._on_command)
        self.link.on_connect(self.publish_state)
        if self.config.homeassistant.enabled:
            HomeAssistantDiscovery(self.config, self.link).attach()
        self.outbox = CountOutbox(self.config.queue.path, self.link, self.config.queue.max_messages)
        self.outbox.start()
        self.link.start()

    def start_controller(self) -> None:
        assert self.active is not None and self.link is not None
        link = self.link
        self.snapshots = Snapshots.over(link, self.config, self.workers)
        ctx = ControlContext(
            store=self.store, core=self.core, model_config=self.config.model, active=self.active,
            workers=self.workers, publish_result=lambda r: link.publish("cmd_result", r),
            publish_state=self.publish_state, status=self.status, cache_dir=self.cache_dir,
            snapshot=self.snapshots.publish,
        )
        self.controller = Controller(ctx, self.stop)
        self.controller.start()

    def start_cameras(self) -> None:
        assert self.active is not None and self.outbox is not None
        policy = ResetPolicy.from_config(self.config.totals)
        self.writer = CountWriter(self.outbox.put)  # commits off the camera threads: they never wait for the disk
        for camera in self.config.cameras:
            reader = CameraReader(camera, self.stop, self.opener)
            path = CountPath(camera, self.config.tracker, self.config.occupancy, self.config.model.tiling)
            totals = TotalsKeeper.restore(camera.name, self.outbox.totals(camera.name), policy,
                                          f"{self.config.device_id}/{camera.name}/{self.outbox.store_id}")
            worker = CameraWorker(
                reader, path, self.active, self.telemetry.stages, self.writer, COUNT_HEARTBEAT_S, self.stop,
                self._on_infer_error, totals,
            )
            reader.start()
            worker.start()
            self.workers.append(worker)

    def _on_command(self, payload: bytes) -> None:
        if self.controller is None:
            assert self.link is not None
            self.link.publish("cmd_result", CommandResult(request_id=None, ok=False, reason="agent is starting"))
            return
        self.controller.submit(payload)

    def _on_infer_error(self, camera: str, exc: Exception) -> None:
        if self.controller is not None and self.active is not None:
            self.controller.device_failed(self.active.detector.device, exc)

    # ---- state ----------------------------------------------------------------------------------
    def state_message(self) -> StateMessage:
        assert self.active is not None
        detector = self.active.detector
        return StateMessage(
            model=detector.manifest.ref, device=detector.device, since=self.active.since,
            config_sha256=self.config_sha256, cameras=[c.name for c in self.config.cameras],
            agent_version=__version__,
        )

    def publish_state(self) -> None:
        if self.link is not None and self.active is not None:
            self.link.publish("state", self.state_message())

    def status(self) -> dict[str, Any]:
        queue = self.outbox.stats() if self.outbox else None
        return {
            "state": self.state_message().model_dump(mode="json"),
            "cameras": {w.camera: vars(w.counters()) for w in self.workers},
            "queue": vars(queue) if queue else None,
        }

    # ---- main loop ------------------------------------------------------------------------------
    def run(self) -> int:
        started = time.monotonic()
        self.load_model()
        self.start_link()
        self.start_controller()
        self.start_cameras()
        self.liveness = Liveness()  # stall and fps clocks start with the cameras, not before the compile
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
            if self.snapshots is not None:
                self.snapshots.tick()
            self.stop.wait(0.2)
        self.shutdown(started)
        return code

    def supervise(self) -> str:
        """Tell systemd how we are doing; detect an inference stall. Returns the liveness verdict."""
        assert self.active is not None
        verdict = self.liveness.check(self.workers, self.config.stall_exit_s)
        detector = self.active.detector
        if verdict == "progress" and not self.liveness.announced and any(w.frames_processed for w in self.workers):
            self.liveness.announced = True
            self.notifier.ready(f"counting with {detector.manifest.ref} on {detector.device}")
            log.info("ready: first frames processed")
        interval = self.notifier.watchdog_interval_s
        if verdict in ("progress", "idle") and self.notifier.enabled \
                and self.liveness.watchdog_due(interval if interval is not None else STATUS_INTERVAL_S):
            if interval is not None:
                self.notifier.watchdog()
            fps = sum(w.frames_processed for w in self.workers) / max(time.monotonic() - self.liveness.started, 1e-6)
            self.notifier.status(f"{detector.manifest.ref} on {detector.device}, {fps:.1f} fps average")
        if verdict == "stalled":
            log.error("no inference for %.0f s while frames arrive: exiting so the service manager restarts us",
                      self.config.stall_exit_s)
        return verdict

    def publish_telemetry(self) -> None:
        assert self.active is not None and self.link is not None and self.outbox is not None
        queue = self.outbox.stats()
        message = self.telemetry.sample(
            self.active.detector.manifest.ref, self.active.detector.device,
            {w.camera: w.counters() for w in self.workers},
        ).model_copy(update={"queue_depth": queue.depth, "queue_dropped": queue.dropped,
                             "queue_waiting": self.writer.waiting if self.writer else 0})
        self.link.publish("telemetry", message)

    def shutdown(self, started: float) -> None:
        """Stop reading, let in-flight frames finish, flush (bounded), publish `offline`, disconnect."""
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
        if self.writer is not None:
            self.writer.close(CLOSE_S)
        if self.link is not None and self.outbox is not None:
            if self.workers:
                self.publish_telemetry()
            self.outbox.flush(self.config.queue.flush_timeout_s)
            self.link.stop(self.config.queue.flush_timeout_s)
            self.outbox.close()
        log.info("stopped: %s frames processed in %.1f s", self.summary.frames_processed, self.summary.seconds)


def install_signal_handlers(stop: threading.Event) -> None:
    def handler(signum: int, _frame: object) -> None:
        log.info("received %s; shutting down", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
