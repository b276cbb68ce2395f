"""Camera readers on real generated clips: newest-frame hand-over, end of file, reconnects."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import numpy as np

from agent.config import CameraConfig
from agent.stream import CameraReader, Frame, FrameSlot
from tests.helpers import write_clip


def frame(i: int) -> Frame:
    return Frame(np.zeros((2, 2, 3), np.uint8), i, 0.0, 0.0)


def test_slot_keeps_only_the_newest_frame() -> None:
    slot = FrameSlot()
    for i in range(3):
        slot.put(frame(i))
    taken = slot.take(timeout=0.1)
    assert taken is not None and taken.index == 2 and slot.dropped == 2
    assert slot.take(timeout=0.05) is None


def read_all(reader: CameraReader, timeout: float = 20) -> list[int]:
    indices = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = reader.slot.take(timeout=0.2)
        if got is not None:
            indices.append(got.index)
        elif reader.state == "ended" and not reader.is_alive():
            break
    return indices


def test_file_read_as_fast_as_taken_drops_nothing(clip: Path) -> None:
    stop = threading.Event()
    reader = CameraReader(CameraConfig(name="c", source=str(clip), realtime=False), stop)
    reader.start()
    assert read_all(reader) == list(range(30))
    assert reader.slot.dropped == 0 and reader.state == "ended"


def test_realtime_file_drops_stale_frames_for_a_slow_consumer(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "fast.avi", frames=40, fps=100.0)
    stop = threading.Event()
    reader = CameraReader(CameraConfig(name="c", source=str(clip), realtime=True), stop)
    reader.start()
    taken = []
    while reader.is_alive() or reader.slot.holds_frame:
        got = reader.slot.take(timeout=0.2)
        if got:
            taken.append(got.index)
            time.sleep(0.05)  # a consumer 5x slower than the source
    assert taken == sorted(taken) and len(taken) < 40
    assert reader.slot.dropped + len(taken) == 40


def test_looping_file_continues_frame_indices(clip: Path) -> None:
    stop = threading.Event()
    reader = CameraReader(CameraConfig(name="c", source=str(clip), realtime=False, loop=True), stop)
    reader.start()
    indices = []
    while len(indices) < 45:
        got = reader.slot.take(timeout=1)
        assert got is not None
        indices.append(got.index)
    stop.set()
    assert indices == list(range(45))


def test_missing_file_reconnects_until_it_appears(tmp_path: Path, clip: Path) -> None:
    target = tmp_path / "later.avi"
    stop = threading.Event()
    config = CameraConfig(name="c", source=str(target), realtime=False, reconnect_max_s=0.5)
    reader = CameraReader(config, stop)
    reader.start()
    time.sleep(1.0)
    assert reader.state == "reconnecting" and reader.reconnects >= 1
    shutil.copy(clip, target)
    assert read_all(reader)[:3] == [0, 1, 2]
    stop.set()
