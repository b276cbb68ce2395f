"""The count writer: cameras hand messages over without waiting for the disk, the outbox gets them in order."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

import pytest

from agent.config import AgentConfig, CameraConfig, ModelConfig, MqttConfig, QueueConfig
from agent.count_writer import CountWriter, WriterClosed
from agent.daemon import Agent
from agent.outbox import CountOutbox
from agent.topics import CountMessage, CrossingMessage
from agent.totals import CameraTotals
from tests.helpers import STORE
from tests.test_totals import outbox

START = datetime(2026, 12, 2, 6, tzinfo=timezone.utc)


def message(camera: str, frame: int) -> tuple[CountMessage, list[CrossingMessage], CameraTotals]:
    totals = CameraTotals(camera, START, in_total=frame)
    return (CountMessage(ts=0.0, seq=0, camera=camera, count=1, raw_count=1, in_total=frame, out_total=0,
                         model="m@1", frame=frame, period_start=START), [], totals)


class GatedPut:
    """A put that waits until the test opens the gate, like a commit waiting for a busy disk."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.written: list[tuple[str, int]] = []

    def __call__(self, msg: CountMessage, crossings: Sequence[CrossingMessage], totals: CameraTotals) -> None:
        self.entered.set()
        self.gate.wait(30)
        self.written.append((msg.camera, msg.frame))


def call_in_thread(writer: CountWriter, item: tuple[CountMessage, list[CrossingMessage], CameraTotals]
                   ) -> threading.Thread:
    thread = threading.Thread(target=writer, args=item, daemon=True)
    thread.start()
    return thread


def test_messages_reach_the_outbox_in_order_per_camera(tmp_path: Path) -> None:
    box = outbox(tmp_path / "queue.sqlite")
    writer = CountWriter(box.put)
    for frame in range(20):
        for camera in ("door", "gate"):
            writer(*message(camera, frame))
    assert writer.close(timeout_s=10)
    box.close()
    with sqlite3.connect(tmp_path / "queue.sqlite") as db:
        rows = db.execute("SELECT camera, seq FROM messages ORDER BY id").fetchall()
        totals = dict(db.execute("SELECT camera, in_total FROM totals").fetchall())
    for camera in ("door", "gate"):
        assert [seq for cam, seq in rows if cam == camera] == list(range(20))
    assert totals == {"door": 19, "gate": 19}  # the last message's totals, as the outbox stores them


def test_a_camera_does_not_wait_for_a_slow_disk_until_the_writer_is_full() -> None:
    put = GatedPut()
    writer = CountWriter(put, capacity=3)
    writer(*message("door", 0))
    assert put.entered.wait(5)  # frame 0 is being written, the disk busy
    first = [call_in_thread(writer, message("door", f)) for f in range(1, 4)]  # three waiting
    for thread in first:
        thread.join(5)
    assert not any(t.is_alive() for t in first), "a hand-over waited for the disk"
    blocked = call_in_thread(writer, message("door", 4))
    blocked.join(0.3)
    assert blocked.is_alive(), "a full writer took a fifth message without waiting"
    put.gate.set()
    blocked.join(5)
    assert writer.close(timeout_s=10) and sorted(put.written) == [("door", f) for f in range(5)]


def test_a_failed_write_is_retried_until_it_is_stored(caplog: pytest.LogCaptureFixture) -> None:
    """A disk full for a moment: the write is retried, nothing skips, the order holds."""
    written: list[int] = []
    failures = iter([True, True, False])

    def put(msg: CountMessage, crossings: Sequence[CrossingMessage], totals: CameraTotals) -> None:
        if msg.frame == 1 and next(failures):
            raise sqlite3.OperationalError("database or disk is full")
        written.append(msg.frame)

    writer = CountWriter(put)
    for frame in range(3):
        writer(*message("door", frame))
    assert writer.close(timeout_s=10)
    assert written == [0, 1, 2] and writer.failed_attempts == 2 and writer.lost == 0
    assert "camera door: count message of frame 1 not stored (database or disk is full); retrying" in caplog.text


def test_close_gives_up_on_a_dead_disk_at_its_deadline(caplog: pytest.LogCaptureFixture) -> None:
    def put(msg: CountMessage, crossings: Sequence[CrossingMessage], totals: CameraTotals) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    writer = CountWriter(put)
    for frame in range(3):
        writer(*message("door", frame))
    assert not writer.close(timeout_s=0.3)
    assert writer.lost == 3
    assert caplog.text.count("3 message(s) not stored after 0 s at shutdown") == 1


def test_a_message_after_close_is_refused() -> None:
    writer = CountWriter(GatedPut())
    assert writer.close(timeout_s=5)
    with pytest.raises(WriterClosed, match="camera door: count writer closed"):
        writer(*message("door", 0))


def test_a_slow_disk_drops_no_live_frame(tmp_path: Path, broker, subscribe, sample_video: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The real agent on a 10 fps camera, every durable commit taking 200 ms (a slow or busy disk): the camera
    thread never waits for one, so no frame is dropped, and every count still goes out, in order."""
    commit = CountOutbox.put

    def slow_put(self: CountOutbox, *args: object, **kwargs: object) -> CountMessage:
        time.sleep(0.2)
        return commit(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(CountOutbox, "put", slow_put)
    sub = subscribe(broker.port, "headcount/+/+/count")
    config = AgentConfig(
        device_id="slow-disk", mqtt=MqttConfig(host="127.0.0.1", port=broker.port),
        model=ModelConfig(store=STORE, name="person-ssdlite", version="1", devices=["CPU"]),
        queue=QueueConfig(path=tmp_path / "queue.sqlite"),
        cameras=[CameraConfig(name="cam1", source=str(sample_video), loop=True, realtime=True)],
    )
    stop = threading.Event()
    agent = Agent(config, stop=stop)
    runner = threading.Thread(target=agent.run)
    runner.start()
    try:
        deadline = time.monotonic() + 60
        while agent.workers == [] or agent.workers[0].frames_processed < 40:  # 4 s of the camera
            assert time.monotonic() < deadline, "the agent did not count 40 frames in 60 s"
            time.sleep(0.1)
    finally:
        stop.set()
        runner.join(60)
    counters = agent.workers[0].counters()
    assert counters.frames_dropped == 0, vars(counters)
    assert sub.wait_for(lambda s: len(s.payloads("/count")) >= 3)
    seqs = [json.loads(p)["seq"] for p in sub.payloads("/count")]
    assert seqs == list(range(len(seqs))) and agent.writer is not None and agent.writer.lost == 0
