"""Crossing events and persistent totals, end to end: a box walks back and forth across a line.

The detector is the rectangle stand-in (`tests.rectangle_agent`: the SSD does not see rectangles as
people); the camera worker, tracker, line, totals, outbox, broker and restarts are real. In-process
tests feed the clip's frames one by one with a fake clock; the SIGKILL test runs the real agent process.
"""

from __future__ import annotations

import re
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, time, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import cv2
import numpy as np
import pytest

from agent import exit_codes
from agent.config import CameraConfig, LineConfig, MqttConfig, OccupancyConfig, TrackerConfig
from agent.count_path import CountPath
from agent.mqtt import MqttLink
from agent.outbox import CountOutbox
from agent.pipeline import ActiveModel, CameraWorker
from agent.stream import CameraReader, Frame
from agent.telemetry import StageStats
from agent.topics import Topics
from agent.totals import ResetPolicy, TotalsKeeper
from models.store import ModelStore
from tests import rectangle_agent
from tests.helpers import Subscriber, agent_config, finish, write_clip
from tests.test_totals import FakeClock, utc

DOOR = LineConfig(start=(0.5, 0.0), end=(0.5, 1.0), inside=(0.75, 0.5), min_frames=2, confirm_s=0.3)
"""A vertical line through the middle: walking right counts `in`, walking left `out`. A crossing is
confirmed 0.3 s later, well before the box walks back (14 frames)."""
LINE_TOML = ('\nline = { start = [0.5, 0.0], end = [0.5, 1.0], inside = [0.75, 0.5], min_frames = 2, '
             'confirm_s = 0.3 }\n')
STEPS = 14
"""Frames from the left end to the right end; one back-and-forth is 2 * STEPS frames and two crossings."""


def back_and_forth(i: int) -> list[tuple[int, int, int, int]]:
    """One 30x40 box, 8 px per frame right then left: frame 2 * STEPS is where frame 0 was."""
    step = i % (2 * STEPS)
    x = 10 + 8 * (step if step <= STEPS else 2 * STEPS - step)
    return [(x, 40, x + 30, 80)]


def walks(tmp_path: Path, trips: int, fps: float = 10.0) -> Path:
    return write_clip(tmp_path / "door.avi", frames=2 * STEPS * trips, fps=fps, boxes=back_and_forth)


def frames_of(clip: Path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(clip))
    images = []
    while (read := capture.read())[0]:
        images.append(read[1])
    return images


@contextmanager
def door_camera(queue: Path, port: int, store: ModelStore, policy: ResetPolicy,
                clock: FakeClock, door: LineConfig = DOOR) -> Iterator[CameraWorker]:
    """The agent's wiring for one camera (as `Agent.start_link` and `start_cameras` do), stopped cleanly."""
    link = MqttLink(MqttConfig(host="127.0.0.1", port=port), Topics("headcount", "test-pc"), "test-agent")
    box = CountOutbox(queue, link)
    box.start()
    link.start()
    assert link.connected.wait(10)
    camera = CameraConfig(name="door", source="door.avi", line=door)
    keeper = TotalsKeeper.restore("door", box.totals("door"), policy, f"test-pc/door/{box.store_id}", clock)
    stop = threading.Event()
    worker = CameraWorker(CameraReader(camera, stop), CountPath(camera, TrackerConfig(), OccupancyConfig()),
                          ActiveModel(rectangle_agent.rectangle_model(store)), StageStats(), box.put, 10.0, stop,
                          lambda _camera, exc: pytest.fail(f"worker error: {exc}"), keeper)
    try:
        yield worker
    finally:
        assert box.flush(10)
        link.stop()
        box.close()


def play(worker: CameraWorker, images: list[np.ndarray], clock: FakeClock, first_index: int = 0) -> None:
    """The frames one by one at 10 fps of the fake clock."""
    for index, image in enumerate(images, first_index):
        worker.process(Frame(image, index, clock(), 0.0))
        clock.now += 0.1


def unique(sub: Subscriber, suffix: str, key: str) -> list[dict]:
    """Messages on `suffix` once each (by `key`), in `key` order; a re-delivery must be identical."""
    seen: dict[object, dict] = {}
    for message in sub.json(suffix):
        assert seen.setdefault(message[key], message) == message, f"{key} {message[key]} re-used"
        seen[message[key]] = message
    return sorted(seen.values(), key=lambda m: m[key])


def assert_exact_sum(crossings: list[dict], counts: list[dict]) -> None:
    """Crossing seqs have no gap; each crossing's totals are the sum of the events before it (one period)."""
    assert [c["seq"] for c in crossings] == list(range(len(crossings)))
    ins = outs = 0
    for crossing in crossings:
        ins, outs = ins + (crossing["direction"] == "in"), outs + (crossing["direction"] == "out")
        assert (crossing["in"], crossing["out"]) == (ins, outs), crossing
    pairs = [(c["in"], c["out"]) for c in counts]
    assert pairs == sorted(pairs), "a total went down"
    assert pairs[-1] == (ins, outs)


def test_one_event_per_crossing_with_ids_unique_across_a_restart(tmp_path: Path, broker, subscribe,
                                                                 store: ModelStore) -> None:
    sub = subscribe(broker.port, "headcount/#")
    images = frames_of(walks(tmp_path, trips=2))
    clock = FakeClock(utc(2024, 5, 2, 9, 0))
    for run in range(2):
        with door_camera(tmp_path / "queue.sqlite", broker.port, store, ResetPolicy(), clock) as worker:
            play(worker, images, clock, first_index=run * len(images))
    assert sub.wait_for(lambda s: len(s.payloads("/door/crossing")) >= 8, timeout=10)
    crossings = unique(sub, "/door/crossing", "seq")
    counts = unique(sub, "/door/count", "seq")
    assert [c["direction"] for c in crossings] == ["in", "out"] * 4  # right, left, per trip, 4 trips
    assert len({c["id"] for c in crossings}) == 8 and len({c["id"].rsplit("/", 1)[0] for c in crossings}) == 1
    assert crossings[0]["id"].startswith("test-pc/door/")
    assert_exact_sum(crossings, counts)
    assert {c["period_start"] for c in crossings + counts} == {"2024-05-02T09:00:00Z"}
    assert {c["model"] for c in crossings} == {"person-ssdlite@1"}
    assert [c["frame"] for c in crossings] == sorted(c["frame"] for c in crossings)


def test_the_reset_time_starts_a_new_period(tmp_path: Path, broker, subscribe, store: ModelStore) -> None:
    sub = subscribe(broker.port, "headcount/#")
    images = frames_of(walks(tmp_path, trips=1))
    clock = FakeClock(utc(2024, 5, 2, 3, 55))  # 05:55 in Berlin
    policy = ResetPolicy(time(6, 0), ZoneInfo("Europe/Berlin"))
    queue = tmp_path / "queue.sqlite"
    with door_camera(queue, broker.port, store, policy, clock) as worker:
        play(worker, images, clock)
        clock.set(utc(2024, 5, 2, 4, 0, 1))  # 06:00:01: the next frame counts in the new period
        play(worker, images, clock, first_index=len(images))
    clock.set(utc(2024, 5, 3, 4, 30))  # restarted the next morning, after that day's reset
    with door_camera(queue, broker.port, store, policy, clock) as worker:
        play(worker, images[:STEPS + 4], clock)  # walks in only
    assert sub.wait_for(lambda s: len(s.payloads("/door/crossing")) >= 5, timeout=10)
    crossings = unique(sub, "/door/crossing", "seq")
    assert [(c["seq"], c["direction"], c["in"], c["out"], c["period_start"]) for c in crossings] == [
        (0, "in", 1, 0, "2024-05-01T04:00:00Z"), (1, "out", 1, 1, "2024-05-01T04:00:00Z"),
        (2, "in", 1, 0, "2024-05-02T04:00:00Z"), (3, "out", 1, 1, "2024-05-02T04:00:00Z"),
        (4, "in", 1, 0, "2024-05-03T04:00:00Z"),
    ]
    counts = unique(sub, "/door/count", "seq")
    starts = [c["period_start"] for c in counts]
    assert starts == sorted(starts) and len(set(starts)) == 3
    first_of_each = [next(c for c in counts if c["period_start"] == start) for start in sorted(set(starts))]
    assert [(c["in"], c["out"]) for c in first_of_each[1:]] == [(0, 0), (0, 0)], "a new period starts at 0"
    assert datetime.fromisoformat(starts[-1]) == datetime(2024, 5, 3, 6, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    assert all(datetime.fromisoformat(s).tzinfo == timezone.utc for s in starts)


def test_a_crossing_still_waiting_when_the_stream_ends_is_published(tmp_path: Path, broker, subscribe,
                                                                    store: ModelStore) -> None:
    sub = subscribe(broker.port, "headcount/#")
    images = frames_of(walks(tmp_path, trips=1))[:STEPS]  # walks right across the line, and the clip ends
    clock = FakeClock(utc(2024, 5, 2, 9, 0))
    with door_camera(tmp_path / "queue.sqlite", broker.port, store, ResetPolicy(), clock,
                     DOOR.model_copy(update={"confirm_s": 60.0})) as worker:
        play(worker, images, clock)
        assert worker.path.counter.totals == (0, 0), "confirmed a minute later, not yet"
        worker.flush()  # what the worker's thread does when its stream ends or the agent stops
        assert worker.totals.state.in_total == 1
    assert sub.wait_for(lambda s: len(s.payloads("/door/crossing")) >= 1, timeout=10)
    [crossing] = unique(sub, "/door/crossing", "seq")
    assert (crossing["direction"], crossing["in"]) == ("in", 1)
    assert 0 < crossing["frame"] < STEPS - 2, "stamped with the frame the box crossed on, not the last one"
    assert unique(sub, "/door/count", "seq")[-1]["in"] == 1


def test_the_last_frame_s_count_is_published_when_the_stream_ends(tmp_path: Path, broker, subscribe,
                                                                  store: ModelStore) -> None:
    sub = subscribe(broker.port, "headcount/#")
    walk = frames_of(walks(tmp_path, trips=1))[:STEPS]
    images = walk + [walk[-1]] * 20  # then nothing moves: the count stays as it is, inside the heartbeat
    clock = FakeClock(utc(2024, 5, 2, 9, 0))
    with door_camera(tmp_path / "queue.sqlite", broker.port, store, ResetPolicy(), clock) as worker:
        play(worker, images, clock)
        worker.flush()  # what the worker's thread does when its stream ends or the agent stops
    assert sub.wait_for(lambda s: any(c["frame"] == len(images) - 1 for c in s.json("/door/count")), timeout=10)
    counts = unique(sub, "/door/count", "seq")
    assert counts[-1]["frame"] == len(images) - 1 and counts[-2]["frame"] < len(walk) + 10


@pytest.mark.slow
def test_totals_and_crossings_continue_across_sigkill(tmp_path: Path, broker, subscribe, store: ModelStore) -> None:
    sub = subscribe(broker.port, "headcount/+/+/#", client_id="dashboard", clean=False)
    config = agent_config(tmp_path, broker.port, walks(tmp_path, trips=2, fps=25.0), loop=True, realtime=True)
    config.write_text(config.read_text().rstrip("\n") + LINE_TOML)

    def crossings(s: Subscriber) -> int:
        return len({c["id"] for c in s.json("/crossing")})

    agent = rectangle_agent.start(config)
    assert sub.wait_for(lambda s: crossings(s) >= 3, timeout=60), (tmp_path / "agent.log").read_text()[-2000:]
    agent.send_signal(signal.SIGKILL)
    agent.wait()
    before = crossings(sub)
    agent = rectangle_agent.start(config)
    assert sub.wait_for(lambda s: crossings(s) >= before + 4, timeout=60), (tmp_path / "agent.log").read_text()
    agent.send_signal(signal.SIGTERM)
    code, log = finish(agent, config)
    assert code == exit_codes.OK, log[-2000:]
    def settled(s: Subscriber) -> bool:  # the flush at SIGTERM delivered the last count
        last = unique(s, "/cam1/count", "seq")[-1]
        return last["in"] + last["out"] == len(unique(s, "/cam1/crossing", "seq"))

    assert sub.wait_for(settled, timeout=10)
    events, counts = unique(sub, "/cam1/crossing", "seq"), unique(sub, "/cam1/count", "seq")
    assert_exact_sum(events, counts)
    assert len({c["period_start"] for c in events + counts}) == 1
    assert "camera cam1: totals in=0 out=0 since" in log  # the first start
    assert re.search(r"camera cam1: totals in=\d+ out=\d+ since \S+, next crossing #[1-9]", log), \
        "the restart restored nothing"
