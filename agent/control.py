"""Executes commands and device fallbacks: prepare a model beside the running one, then switch.

Everything slow (verifying checksums, compiling, warming up) happens in the controller's own thread
while the cameras keep counting on the old model. The switch itself is one reference assignment in
`ActiveModel`; each camera picks the new model up at its next frame. On any failure the old model
keeps running and the caller gets the reason.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openvino as ov

from agent.commands import (
    AnyCommand,
    CommandRejected,
    CommandResult,
    SetDevice,
    Snapshot,
    SnapshotInfo,
    Status,
    SwapModel,
    parse_command,
)
from agent.config import ModelConfig
from agent.decoders import DecoderError
from agent.detector import Detector, InputMismatch, choose_hint
from agent.devices import choose_device, is_available, next_device, runs_precision
from agent.pipeline import ActiveModel, CameraWorker, RunningModel, count_threshold
from agent.precompile import precompile
from agent.snapshot import SnapshotUnavailable
from models.lut import UNIFORM_METHOD
from models.store import ModelStore, ModelStoreError, StoredModel

log = logging.getLogger(__name__)

SWITCH_WAIT_S = 5.0
MAX_PENDING = 8


class ModelUnusable(Exception):
    """A model could not be prepared (missing, corrupted, wrong labels, undecodable, no device)."""


@dataclass
class ControlContext:
    """What the controller may touch in the agent: no more."""

    store: ModelStore
    core: ov.Core
    model_config: ModelConfig
    active: ActiveModel
    workers: list[CameraWorker]
    publish_result: Callable[[CommandResult], None]
    publish_state: Callable[[], None]
    status: Callable[[], dict[str, Any]]
    cache_dir: Path | None = None
    snapshot: Callable[[str], SnapshotInfo] | None = None
    """Publish a camera's snapshot (`agent.snapshot.Snapshots.publish`); raises SnapshotUnavailable."""


def check_label_id(stored: StoredModel, label: str) -> int:
    class_id = stored.manifest.label_id(label)
    if class_id is None:
        raise ModelUnusable(f"model {stored.manifest.ref} has no label {label!r} "
                         f"(its labels: {sorted(stored.manifest.labels.values())})")
    return class_id


def prepare_model(store: ModelStore, core: ov.Core, config: ModelConfig, name: str, version: str,
                  device: str | None = None, cache_dir: Path | None = None,
                  background: bool = False, cameras: int = 1) -> tuple[RunningModel, float, float]:
    """Verify, check, compile and warm up a model without touching the running one.

    Returns the model and the compile and warm-up times in ms (compile includes the background
    compile). `device` None: the config's preference list decides, falling back to CPU with a warning.
    The performance hint is the config's, else chosen from the number of `cameras` (`choose_hint`).
    With `background`, the compile runs first in a nice-19 child process that fills `cache_dir`
    (see `agent.precompile`), so running cameras keep the CPU.
    """
    try:
        stored = store.load(name, version)
    except ModelStoreError as exc:
        raise ModelUnusable(str(exc)) from None
    if stored.manifest.provenance.method == UNIFORM_METHOD:
        raise ModelUnusable(f"{stored.manifest.ref} is a latency-calibration cut (`calibrate-lut --store`): not "
                            "fine-tuned, it counts nothing; bench it, deploy a pruned variant")
    class_id = check_label_id(stored, config.label)
    available = core.available_devices
    precision = stored.manifest.precision
    if device is None:
        choice = choose_device(config.devices, available, precision)
        (log.warning if choice.fell_back else log.info)("device: %s", choice.reason)
        device = choice.device
    elif not is_available(device, available):
        raise ModelUnusable(f"device {device} is not available (runtime offers {available})")
    elif not runs_precision(device, precision):
        raise ModelUnusable(f"{stored.manifest.ref} is an {precision} IR, which {device} cannot run; "
                            f"choose an FP16 variant for {device}")
    hint = choose_hint(config.performance_hint, cameras)
    options = {"PERFORMANCE_HINT": hint}
    if cache_dir is not None:
        options["CACHE_DIR"] = str(cache_dir)
    started = time.perf_counter()
    if background and cache_dir is not None:
        precompile(store.root, name, version, device, cache_dir, hint)
    try:
        detector = Detector.open(stored, device, core, options)
    except DecoderError as exc:
        raise ModelUnusable(f"cannot decode the outputs of {stored.manifest.ref}: {exc}") from None
    except InputMismatch as exc:
        raise ModelUnusable(f"{stored.manifest.ref} does not match its manifest: {exc}") from None
    except RuntimeError as exc:
        raise ModelUnusable(f"cannot compile {stored.manifest.ref} for {device}: {exc}") from None
    compile_ms = (time.perf_counter() - started) * 1000
    try:
        warmup_ms = detector.warm_up() * 1000
    except RuntimeError as exc:
        raise ModelUnusable(f"{stored.manifest.ref} failed its warm-up on {device}: {exc}") from None
    return RunningModel(detector, class_id, count_threshold(config, stored.manifest)), compile_ms, warmup_ms


class Controller(threading.Thread):
    """Runs commands one at a time, in order, off the MQTT and camera threads."""

    def __init__(self, ctx: ControlContext, stop: threading.Event) -> None:
        super().__init__(name="controller", daemon=True)
        self.ctx = ctx
        self.stop_event = stop
        self._jobs: queue.Queue[Callable[[], None]] = queue.Queue(maxsize=MAX_PENDING)
        self._fallback_lock = threading.Lock()
        self._failed_device: str | None = None

    # ---- entry points (any thread) --------------------------------------------------------------
    def submit(self, payload: bytes) -> None:
        """Handle a raw `cmd` payload: nack at once if invalid, else queue it."""
        try:
            command = parse_command(payload)
        except CommandRejected as exc:
            if exc.request_id is None:
                log.warning("rejected a command without a readable request_id: %s", exc.reason)
            self.ctx.publish_result(CommandResult(request_id=exc.request_id, action=exc.action, ok=False,
                                                  reason=exc.reason))
            return
        try:
            self._jobs.put_nowait(lambda: self._run(command))
        except queue.Full:
            self.ctx.publish_result(CommandResult(request_id=command.request_id, action=command.action, ok=False,
                                                  reason=f"busy: {MAX_PENDING} commands are already waiting"))

    def device_failed(self, device: str, error: Exception) -> None:
        """Called by a camera worker after an inference error: move to the next device once."""
        with self._fallback_lock:
            if self._failed_device == device:
                return
            self._failed_device = device
        try:
            self._jobs.put_nowait(lambda: self._fall_back(device, error))
        except queue.Full:
            log.error("cannot schedule a device fallback: controller queue full")

    # ---- controller thread ----------------------------------------------------------------------
    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                job = self._jobs.get(timeout=0.5)
            except queue.Empty:
                continue
            job()

    def _run(self, command: AnyCommand) -> None:
        started = time.perf_counter()
        try:
            if isinstance(command, Status):
                result = CommandResult(request_id=command.request_id, action=command.action, ok=True,
                                       status=self.ctx.status(), **self._running())
            elif isinstance(command, Snapshot):
                result = self._snapshot(command)
            else:
                result = self._switch(command)
        except (ModelUnusable, SnapshotUnavailable) as exc:
            log.warning("command %s (%s) refused: %s", command.request_id, command.action, exc)
            result = CommandResult(request_id=command.request_id, action=command.action, ok=False,
                                   reason=str(exc), **self._running())
        log.info("command %s (%s) done in %.0f ms: %s", command.request_id, command.action,
                 (time.perf_counter() - started) * 1000, "ack" if result.ok else "nack")
        self.ctx.publish_result(result)

    def _snapshot(self, command: Snapshot) -> CommandResult:
        if self.ctx.snapshot is None:
            raise SnapshotUnavailable("snapshots are not available in this agent")
        info = self.ctx.snapshot(command.camera)
        return CommandResult(request_id=command.request_id, action=command.action, ok=True, snapshot=info,
                             **self._running())

    def _running(self) -> dict[str, str]:
        detector = self.ctx.active.detector
        return {"model": detector.manifest.ref, "device": detector.device}

    def _switch(self, command: SwapModel | SetDevice) -> CommandResult:
        current = self.ctx.active.detector
        if isinstance(command, SwapModel):
            name, version, device = command.model, command.version, command.device
        else:
            name, version, device = current.manifest.name, current.manifest.version, command.device
        running, compile_ms, warmup_ms = self._prepare(name, version, device)
        frames = self.switch_to(running)
        return CommandResult(request_id=command.request_id, action=command.action, ok=True,
                             compile_ms=round(compile_ms, 1), warmup_ms=round(warmup_ms, 1),
                             switch_frames=frames, **self._running())

    def _prepare(self, name: str, version: str, device: str | None) -> tuple[RunningModel, float, float]:
        return prepare_model(self.ctx.store, self.ctx.core, self.ctx.model_config, name, version, device,
                             self.ctx.cache_dir, background=True, cameras=max(1, len(self.ctx.workers)))

    def switch_to(self, running: RunningModel) -> dict[str, int]:
        """Make `running` the active model; returns each live camera's first frame on it."""
        old = self.ctx.active.swap(running)
        log.info("switched %s on %s -> %s on %s", old.detector.manifest.ref, old.detector.device,
                 running.detector.manifest.ref, running.detector.device)
        self.ctx.publish_state()
        deadline = time.monotonic() + SWITCH_WAIT_S
        frames: dict[str, int] = {}
        while time.monotonic() < deadline:
            for worker in self.ctx.workers:
                for model, index in reversed(worker.switch_frames):
                    if model is running:
                        frames[worker.camera] = index
            if all(w.camera in frames or not w.is_alive() for w in self.ctx.workers):
                break
            self.stop_event.wait(0.02)
        with self._fallback_lock:
            self._failed_device = None
        return frames

    def _fall_back(self, device: str, error: Exception) -> None:
        config = self.ctx.model_config
        current = self.ctx.active.detector
        choice = next_device(config.devices, self.ctx.core.available_devices, device, current.manifest.precision)
        if choice is None:
            log.error("inference on %s failed (%s) and no other device is available", device, error)
            return
        log.warning("inference on %s failed (%s); falling back to %s", device, error, choice.device)
        try:
            running, _, _ = self._prepare(current.manifest.name, current.manifest.version, choice.device)
        except ModelUnusable as exc:
            log.error("fallback to %s failed: %s", choice.device, exc)
            return
        self.switch_to(running)
