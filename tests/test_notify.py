"""sd_notify: the Notifier against a real Unix datagram socket, the liveness verdicts that gate WATCHDOG=1,
and the real agent process talking to a socket the way it talks to systemd."""

from __future__ import annotations

import os
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

import pytest

from agent import exit_codes
from agent.liveness import Liveness
from agent.notify import Notifier
from tests.helpers import Recording, agent_config, finish, start_agent


@dataclass
class NotifyListener(Recording):
    """What systemd's end of `$NOTIFY_SOCKET` sees: every datagram, with its arrival time."""

    address: str  # a path, or "@name" for the abstract namespace
    messages: list[tuple[float, dict[str, str]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + self.address[1:] if self.address.startswith("@") else self.address)
        self.sock.settimeout(0.1)
        self._cond = threading.Condition()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        while not self._closed.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            fields = dict(line.split("=", 1) for line in data.decode().split("\n") if "=" in line)
            with self._cond:
                self.messages.append((time.monotonic(), fields))
                self._cond.notify_all()

    def with_key(self, key: str, value: str | None = None) -> list[tuple[float, dict[str, str]]]:
        with self._cond:
            return [(t, m) for t, m in self.messages if key in m and (value is None or m[key] == value)]

    def close(self) -> None:
        self._closed.set()
        self._thread.join(timeout=2)
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[NotifyListener]:
    # AF_UNIX paths are limited to 107 bytes, so not under pytest's long tmp_path.
    with tempfile.TemporaryDirectory(prefix="sdn-") as directory:
        sock = NotifyListener(str(Path(directory) / "notify"))
        yield sock
        sock.close()


# ---- Notifier ------------------------------------------------------------------------------------------
def test_each_message_arrives_as_one_datagram(listener: NotifyListener) -> None:
    notifier = Notifier({"NOTIFY_SOCKET": listener.address})
    assert notifier.enabled
    assert notifier.ready("counting with m@1 on CPU")
    assert notifier.status("m@1 on CPU, 9.5 fps average")
    assert notifier.watchdog()
    assert notifier.stopping()
    assert listener.wait_for(lambda s: len(s.messages) == 4, timeout=5)
    assert [m for _, m in listener.messages] == [
        {"READY": "1", "STATUS": "counting with m@1 on CPU"},
        {"STATUS": "m@1 on CPU, 9.5 fps average"},
        {"WATCHDOG": "1"},
        {"STOPPING": "1", "STATUS": "stopping"},
    ]
    notifier.close()
    assert not notifier.watchdog()


def test_abstract_namespace_socket() -> None:
    abstract = NotifyListener(f"@headcount-test-{os.getpid()}-{time.monotonic_ns()}")
    try:
        assert Notifier({"NOTIFY_SOCKET": abstract.address}).watchdog()
        assert abstract.wait_for(lambda s: bool(s.with_key("WATCHDOG", "1")), timeout=5)
    finally:
        abstract.close()


def test_outside_systemd_everything_is_a_no_op() -> None:
    notifier = Notifier({})
    assert not notifier.enabled
    assert notifier.watchdog_interval_s is None
    assert not notifier.ready("x") and not notifier.watchdog() and not notifier.stopping()


def test_watchdog_interval_is_half_of_watchdog_usec_and_only_for_this_pid() -> None:
    assert Notifier({"WATCHDOG_USEC": "30000000"}).watchdog_interval_s == 15.0
    assert Notifier({"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": str(os.getpid())}).watchdog_interval_s == 0.5
    assert Notifier({"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"}).watchdog_interval_s is None
    assert Notifier({"WATCHDOG_USEC": "soon"}).watchdog_interval_s is None


def test_a_vanished_socket_is_reported_not_raised(tmp_path: Path) -> None:
    notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "gone")})
    assert notifier.enabled
    assert not notifier.ready("x")


# ---- Liveness: what decides whether WATCHDOG=1 is sent --------------------------------------------------
@dataclass
class FakeReader:
    frames_read: int = 0


@dataclass
class FakeWorker:
    """Stands in for a CameraWorker: only the two counters Liveness reads."""

    frames_processed: int = 0
    reader: FakeReader = field(default_factory=FakeReader)


def fast_liveness() -> Liveness:
    liveness = Liveness()
    liveness.BEHIND_S = 0.05  # instance override: the same logic on a test time scale
    return liveness


def test_inference_progress_and_no_frames_at_all_keep_the_watchdog_fed() -> None:
    liveness, worker = fast_liveness(), FakeWorker()
    assert liveness.check([worker], stall_s=0.2) == "idle"  # no camera delivers: not our fault
    worker.reader.frames_read, worker.frames_processed = 5, 5
    assert liveness.check([worker], stall_s=0.2) == "progress"
    time.sleep(0.3)
    assert liveness.check([worker], stall_s=0.2) == "idle"  # camera went quiet after progress


def test_frames_arriving_without_inference_become_behind_then_stalled() -> None:
    liveness, worker = fast_liveness(), FakeWorker()
    worker.reader.frames_read, worker.frames_processed = 3, 3
    assert liveness.check([worker], stall_s=0.3) == "progress"
    worker.reader.frames_read = 10  # frames keep coming, none is inferred
    assert liveness.check([worker], stall_s=0.3) == "progress"  # within BEHIND_S: a slow frame is fine
    time.sleep(0.1)
    assert liveness.check([worker], stall_s=0.3) == "behind"
    time.sleep(0.3)
    assert liveness.check([worker], stall_s=0.3) == "stalled"
    worker.frames_processed = 4  # inference resumes
    assert liveness.check([worker], stall_s=0.3) == "progress"


def test_stall_is_seen_while_another_camera_is_quiet() -> None:
    liveness, quiet, busy = fast_liveness(), FakeWorker(), FakeWorker()
    busy.reader.frames_read, busy.frames_processed = 1, 1
    assert liveness.check([quiet, busy], stall_s=0.2) == "progress"
    busy.reader.frames_read = 50
    time.sleep(0.25)
    assert liveness.check([quiet, busy], stall_s=0.2) == "stalled"


def test_watchdog_due_once_per_interval() -> None:
    liveness = Liveness()
    assert liveness.watchdog_due(0.2)
    assert not liveness.watchdog_due(0.2)
    time.sleep(0.25)
    assert liveness.watchdog_due(0.2)


# ---- the real agent ------------------------------------------------------------------------------------
WATCHDOG_S = 2.0
"""WATCHDOG_USEC for the agent under test: pings every second, a 2 s budget (the unit has 30 s)."""


def notify_env(listener: NotifyListener) -> dict[str, str]:
    return {"NOTIFY_SOCKET": listener.address, "WATCHDOG_USEC": str(int(WATCHDOG_S * 1e6))}


@pytest.mark.slow
def test_agent_ready_after_first_frames_watchdog_while_counting_stopping_on_sigterm(
        tmp_path: Path, listener: NotifyListener, broker, sample_video, store) -> None:
    config = agent_config(tmp_path, broker.port, sample_video, loop=True, realtime=True)
    agent = start_agent(config, notify_env(listener))
    try:
        assert listener.wait_for(lambda s: bool(s.with_key("READY")), timeout=60), "no READY=1 within 60 s"
        ready_at, ready = listener.with_key("READY")[0]
        assert ready == {"READY": "1", "STATUS": "counting with person-ssdlite@1 on CPU"}
        assert listener.wait_for(lambda s: len([t for t, _ in s.with_key("WATCHDOG") if t > ready_at]) >= 4,
                                 timeout=15), "WATCHDOG=1 does not repeat while frames are inferred"
        pings = [t for t, _ in listener.with_key("WATCHDOG") if t > ready_at]
        # Every gap must stay under WATCHDOG_USEC, or systemd would kill a healthy agent.
        assert max(b - a for a, b in pairwise(pings)) < WATCHDOG_S
        assert any("fps" in m["STATUS"] for _, m in listener.with_key("STATUS") if "READY" not in m)
        assert agent.poll() is None
    finally:
        agent.send_signal(signal.SIGTERM)
        code, out = finish(agent, config)
    assert code == exit_codes.OK, out[-3000:]
    assert listener.wait_for(lambda s: bool(s.with_key("STOPPING", "1")), timeout=5), out[-2000:]
    stopping_at = listener.with_key("STOPPING")[0][0]
    assert not [t for t, _ in listener.with_key("WATCHDOG") if t > stopping_at]
    assert len(listener.with_key("READY")) == 1


@pytest.mark.slow
def test_agent_without_frames_is_not_ready_but_idle_keeps_the_watchdog_fed(
        tmp_path: Path, listener: NotifyListener, broker, store) -> None:
    config = agent_config(tmp_path, broker.port, tmp_path / "camera-that-never-delivers.avi", loop=True)
    agent = start_agent(config, notify_env(listener))
    try:
        # Pings start once the model is compiled and the main loop runs; frames never come.
        assert listener.wait_for(lambda s: len(s.with_key("WATCHDOG")) >= 4, timeout=60), \
            "no WATCHDOG=1 while idle (no frames at all)"
        assert not listener.with_key("READY"), "READY=1 before any frame was inferred"
    finally:
        agent.send_signal(signal.SIGTERM)
        code, out = finish(agent, config)
    assert code == exit_codes.OK, out[-3000:]
    assert listener.wait_for(lambda s: bool(s.with_key("STOPPING", "1")), timeout=5)
    assert not listener.with_key("READY")
