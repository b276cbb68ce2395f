"""Snapshots without an agent: size bound, rendering on a real frame, unknown cameras, the interval."""

from __future__ import annotations

import hashlib
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from agent.commands import CommandRejected, Snapshot, parse_command
from agent.config import CameraConfig, SnapshotConfig
from agent.counting import CountResult
from agent.detections import Detections
from agent.snapshot import Snapshots, SnapshotUnavailable, encode_bounded
from agent.stream import Frame

LINE = {"start": [0.1, 0.5], "end": [0.9, 0.5], "inside": [0.5, 0.9]}
PERSON = 1


def is_red(pixel: np.ndarray) -> bool:
    """The line's red after JPEG (chroma is blurred, so a margin rather than an exact colour)."""
    b, g, r = (int(v) for v in pixel)
    return r > 150 and r - max(g, b) > 80


def is_green(pixel: np.ndarray) -> bool:
    b, g, r = (int(v) for v in pixel)
    return g > 120 and g - max(r, b) > 60


@pytest.fixture(scope="module")
def scene(sample_video: Path) -> np.ndarray:
    capture = cv2.VideoCapture(str(sample_video))
    ok, image = capture.read()
    capture.release()
    assert ok
    return image


def holder(name: str, image: np.ndarray | None) -> SimpleNamespace:
    """What `Snapshots` reads of a camera worker: its name and `latest` (a processed frame)."""
    if image is None:
        return SimpleNamespace(camera=name, latest=None)
    people = Detections([[300, 100, 360, 260], [500, 120, 540, 230]], [0.9, 0.8], [PERSON, PERSON])
    return SimpleNamespace(camera=name, latest=(Frame(image, 41, 1700000000.0, 0.0), people,
                                                CountResult(2, 5, 3), PERSON))


def snapshots(scene: np.ndarray, sent: list[tuple[str, bytes, bool]], connected: bool = True,
              **config: object) -> Snapshots:
    cameras = [CameraConfig(name="door", source="0", line=LINE, snapshot_interval_s=5.0),
               CameraConfig(name="yard", source="1"), CameraConfig(name="cold", source="2")]
    workers = [holder("door", scene), holder("yard", scene), holder("cold", None)]

    def publish(camera: str, jpeg: bytes, retain: bool) -> bool:
        if connected:
            sent.append((camera, jpeg, retain))
        return connected

    return Snapshots(SnapshotConfig(**config), cameras, workers, publish,  # type: ignore[arg-type]
                     lambda c: f"headcount/pc/{c}/snapshot")


def test_snapshot_shows_line_and_boxes_on_the_real_frame(scene: np.ndarray) -> None:
    jpeg, info = snapshots(scene, []).take("door")
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    height, width = scene.shape[:2]
    assert image.shape == scene.shape and (info.width, info.height) == (width, height)
    y = round(0.5 * height)
    along = [round(f * width) for f in (0.15, 0.25, 0.35, 0.65, 0.75, 0.85)]
    assert all(is_red(image[y, x]) for x in along), [image[y, x].tolist() for x in along]
    assert not any(is_red(scene[y, x]) for x in along)  # the red is drawn, not in the scene
    assert is_green(image[260, 330]) and is_green(image[180, 300])  # first box: bottom and left edges
    assert (info.camera, info.frame, info.ts, info.topic) == ("door", 41, 1700000000.0, "headcount/pc/door/snapshot")
    assert info.bytes == len(jpeg) and info.sha256 == hashlib.sha256(jpeg).hexdigest()


def test_size_bound_lowers_quality_then_resolution() -> None:
    noise = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)  # incompressible
    jpeg, quality, (width, height) = encode_bounded(noise, 30_000, 85)
    assert len(jpeg) <= 30_000 and quality <= 85 and width < 640 and height < 480
    assert cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR).shape == (height, width, 3)
    flat = np.full((480, 640, 3), 90, np.uint8)
    assert encode_bounded(flat, 30_000, 85)[1:] == (85, (640, 480))  # fits at once: untouched
    with pytest.raises(ValueError, match="does not fit in 300 bytes"):
        encode_bounded(noise, 300, 85)


def test_unknown_camera_and_camera_without_frame_say_which(scene: np.ndarray) -> None:
    shots = snapshots(scene, [])
    with pytest.raises(SnapshotUnavailable, match=r"unknown camera 'nope'; cameras: door, yard, cold"):
        shots.publish("nope")
    with pytest.raises(SnapshotUnavailable, match=r"camera 'cold' has not processed a frame yet"):
        shots.publish("cold")


def test_interval_publishes_only_cameras_that_ask_when_due(scene: np.ndarray) -> None:
    sent: list[tuple[str, bytes, bool]] = []
    shots = snapshots(scene, sent)
    for now in (100.0, 101.0, 104.9, 105.0, 106.0):
        shots.tick(now)
    assert [(camera, retain) for camera, _, retain in sent] == [("door", False), ("door", False)]
    retained = snapshots(scene, sent := [], retain=True)
    retained.tick(0.0)
    assert sent[0][2] is True


def test_nothing_is_sent_or_queued_while_disconnected(scene: np.ndarray) -> None:
    shots = snapshots(scene, sent := [], connected=False)
    with pytest.raises(SnapshotUnavailable, match="not connected"):
        shots.publish("door")
    shots.tick(0.0)  # periodic: skipped quietly
    assert sent == []


@pytest.mark.parametrize(("payload", "problem"), [
    (b'{"request_id": "r", "action": "snapshot"}', "camera"),
    (b'{"request_id": "r", "action": "snapshot", "camera": "../door"}', "camera"),
    (b'{"request_id": "r", "action": "snapshot", "camera": "door", "scale": 2}', "Extra"),
])
def test_snapshot_command_is_validated(payload: bytes, problem: str) -> None:
    assert isinstance(parse_command(b'{"request_id": "r", "action": "snapshot", "camera": "door"}'), Snapshot)
    with pytest.raises(CommandRejected, match=problem):
        parse_command(payload)
