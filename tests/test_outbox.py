"""The outbox on disk: bounded with drop-oldest counted, seq and counts surviving a reopen."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone
from pathlib import Path

from agent.config import MqttConfig
from agent.mqtt import MqttLink
from agent.outbox import CountOutbox
from agent.topics import CountMessage, Topics


def outbox(path: Path, max_messages: int = 10) -> CountOutbox:
    link = MqttLink(MqttConfig(), Topics("headcount", "pc"), "test")  # never started: the broker is "down"
    return CountOutbox(path, link, max_messages)


def message(camera: str) -> CountMessage:
    return CountMessage(ts=0.0, seq=0, camera=camera, count=1, raw_count=1, in_total=0, out_total=0, model="m@1",
                        frame=0, period_start=datetime(2024, 5, 1, tzinfo=timezone.utc))


def test_full_queue_drops_the_oldest_and_counts_them(tmp_path: Path) -> None:
    box = outbox(tmp_path / "q.sqlite")
    seqs = [box.put(message("door")).seq for _ in range(15)]
    assert seqs == list(range(15))
    assert (box.stats().depth, box.stats().dropped) == (10, 5)
    box.close()
    with sqlite3.connect(tmp_path / "q.sqlite") as db:
        kept = [s for (s,) in db.execute("SELECT seq FROM messages ORDER BY id")]
    assert kept == list(range(5, 15))


def test_reopen_keeps_depth_drops_and_seq_per_camera(tmp_path: Path) -> None:
    box = outbox(tmp_path / "q.sqlite")
    for camera in ("door", "door", "dock", "door"):
        box.put(message(camera))
    box.close()
    again = outbox(tmp_path / "q.sqlite")
    assert again.stats().depth == 4
    assert again.put(message("door")).seq == 3 and again.put(message("dock")).seq == 1
    again.close()
