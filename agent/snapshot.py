"""Snapshots: an annotated JPEG of a camera's latest frame, published on `<prefix>/<device>/<camera>/snapshot`.

A snapshot is taken on request (the `snapshot` command) and, per camera, every `snapshot_interval_s`.
It draws on the frame, detections and counts the camera worker last kept (`CameraWorker.latest`, a
reference, so counting pays nothing for snapshots). The JPEG is bounded: quality is lowered first, then
the resolution, until it fits `[snapshot] max_bytes`. A snapshot is a view, not data: QoS 0, not queued
while the broker is away, not retained unless the config says so.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterator

import cv2
import numpy as np
import paho.mqtt.client as paho

from agent.commands import SnapshotInfo
from agent.config import AgentConfig, CameraConfig, SnapshotConfig
from agent.detections import Detections
from agent.draw import annotate
from agent.mqtt import MqttLink
from agent.pipeline import CameraWorker

log = logging.getLogger(__name__)

LOWEST_QUALITY = 40
DOWNSCALE_STEP = 0.75
SMALLEST_SIDE = 64


class SnapshotUnavailable(Exception):
    """No snapshot can be taken: unknown camera, or no frame processed yet. The message says which."""


def _attempts(start_quality: int) -> Iterator[int]:
    quality = start_quality
    while quality > LOWEST_QUALITY:
        yield quality
        quality -= 15
    yield LOWEST_QUALITY


def encode_bounded(image: np.ndarray, max_bytes: int, quality: int) -> tuple[bytes, int, tuple[int, int]]:
    """JPEG of `image` no larger than `max_bytes`; returns it, the quality used and its (width, height).

    Quality steps down from `quality` to 40 first (cheap in detail), then the image shrinks by 3/4 per
    step with the qualities tried again. Raises ValueError if even a 64-pixel image does not fit.
    """
    scaled = image
    while True:
        for q in _attempts(quality):
            ok, buffer = cv2.imencode(".jpg", scaled, [cv2.IMWRITE_JPEG_QUALITY, q])
            if not ok:
                raise ValueError(f"cannot encode a {scaled.shape} image as JPEG")
            if buffer.size <= max_bytes:
                return buffer.tobytes(), q, (scaled.shape[1], scaled.shape[0])
        height, width = scaled.shape[:2]
        if min(height, width) * DOWNSCALE_STEP < SMALLEST_SIDE:
            raise ValueError(f"a snapshot does not fit in {max_bytes} bytes even at {width}x{height}")
        size = (round(width * DOWNSCALE_STEP), round(height * DOWNSCALE_STEP))
        scaled = cv2.resize(scaled, size, interpolation=cv2.INTER_AREA)


def render(worker: CameraWorker, camera: CameraConfig) -> tuple[np.ndarray, int, float]:
    """The worker's latest frame annotated; returns the image, the frame index and its time."""
    latest = worker.latest
    if latest is None:
        raise SnapshotUnavailable(f"camera {camera.name!r} has not processed a frame yet")
    frame, detections, result, class_id = latest
    counted: Detections = detections[detections.class_id == class_id]
    in_out = (result.in_total, result.out_total) if camera.line is not None else (None, None)
    return annotate(frame.image, counted, camera, result.count, *in_out), frame.index, frame.ts


class Snapshots:
    """Takes and publishes snapshots for the agent's cameras.

    Args:
        config: size bound, starting quality, retain flag.
        cameras: the cameras' configs, by which names are known and intervals read.
        workers: the live camera workers (the agent's list, filled as cameras start).
        publish: sends (topic key fields, payload, retain); returns False when it could not be sent.
        topic: builds a camera's snapshot topic name.
    """

    def __init__(self, config: SnapshotConfig, cameras: list[CameraConfig], workers: list[CameraWorker],
                 publish: Callable[[str, bytes, bool], bool], topic: Callable[[str], str]) -> None:
        self.config = config
        self.cameras = {c.name: c for c in cameras}
        self.workers = workers
        self._publish = publish
        self._topic = topic
        self._next_due: dict[str, float] = {}

    @classmethod
    def over(cls, link: MqttLink, config: AgentConfig, workers: list[CameraWorker]) -> Snapshots:
        """Snapshots published through the agent's MQTT link (skipped while it is not connected)."""
        spec = link.topics.spec("snapshot")

        def topic(camera: str) -> str:
            return link.topics.name("snapshot", camera=camera)

        def publish(camera: str, jpeg: bytes, retain: bool) -> bool:
            if not link.connected.is_set():  # never queue images in memory while the broker is away
                return False
            return link.client.publish(topic(camera), jpeg, qos=spec.qos, retain=retain).rc == paho.MQTT_ERR_SUCCESS

        return cls(config.snapshot, config.cameras, workers, publish, topic)

    def take(self, name: str) -> tuple[bytes, SnapshotInfo]:
        """Render and encode a camera's snapshot. Raises SnapshotUnavailable naming the camera."""
        camera = self.cameras.get(name)
        worker = next((w for w in self.workers if w.camera == name), None)
        if camera is None or worker is None:
            raise SnapshotUnavailable(f"unknown camera {name!r}; cameras: {', '.join(self.cameras) or 'none'}")
        image, index, ts = render(worker, camera)
        try:
            jpeg, quality, (width, height) = encode_bounded(image, self.config.max_bytes, self.config.quality)
        except ValueError as exc:
            raise SnapshotUnavailable(f"camera {name!r}: {exc}") from None
        info = SnapshotInfo(camera=name, topic=self._topic(name), bytes=len(jpeg),
                            sha256=hashlib.sha256(jpeg).hexdigest(), width=width, height=height,
                            quality=quality, frame=index, ts=ts)
        return jpeg, info

    def publish(self, name: str) -> SnapshotInfo:
        """Take a camera's snapshot and publish it. Raises SnapshotUnavailable (also when not connected)."""
        jpeg, info = self.take(name)
        if not self._publish(name, jpeg, self.config.retain):
            raise SnapshotUnavailable(f"camera {name!r}: not connected to the broker; snapshot not sent")
        return info

    def tick(self, now: float | None = None) -> None:
        """Publish the snapshots that are due by their camera's `snapshot_interval_s` (main loop)."""
        now = time.monotonic() if now is None else now
        for name, camera in self.cameras.items():
            if camera.snapshot_interval_s is None or now < self._next_due.get(name, 0.0):
                continue
            self._next_due[name] = now + camera.snapshot_interval_s
            try:
                self.publish(name)
            except SnapshotUnavailable as exc:
                log.debug("periodic snapshot skipped: %s", exc)
