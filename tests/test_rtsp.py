"""Real RTSP and real stalls: GStreamer's RTSP server on loopback (tests/rtsp_server.py), OpenCV's FFmpeg
reading it, the server stopped, restarted and paused; a wedged capture for the sources that cannot be made
to hang here (a USB camera, a file on a dead mount)."""

from __future__ import annotations

import select
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import pytest

from agent.config import CameraConfig
from agent.local_broker import free_port
from agent.stream import MAX_LINGERING, CameraReader
from tests.helpers import agent_config, finish, start_agent, write_clip

DEBIAN_PYTHON = "/usr/bin/python3"
SERVER_SCRIPT = Path(__file__).with_name("rtsp_server.py")
PACKAGES = "python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good"


class RtspServer:
    """tests/rtsp_server.py as a child process on a fixed port: `start`, `stop`, `pause`, `resume`."""

    def __init__(self, log: Path, frames: Path | None = None, fps: int = 25) -> None:
        self.port = free_port()
        self.url = f"rtsp://127.0.0.1:{self.port}/stream"
        self.log = log
        self.args = [DEBIAN_PYTHON, str(SERVER_SCRIPT), "--port", str(self.port), "--fps", str(fps)]
        self.args += ["--frames", str(frames)] if frames else []
        self.process: subprocess.Popen | None = None

    def start(self, timeout_s: float = 15.0) -> RtspServer:
        with open(self.log, "a") as log:
            self.process = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=log, text=True)
        ready, _, _ = select.select([self.process.stdout], [], [], timeout_s)
        if not ready or self.process.stdout.readline().strip() != "ready":  # type: ignore[union-attr]
            self.stop()
            raise RuntimeError(f"RTSP server did not start; see {self.log}:\n{self.log.read_text()[-2000:]}")
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def pause(self) -> None:
        """Every stream stops delivering frames; sessions stay connected."""
        assert self.process is not None
        self.process.send_signal(signal.SIGUSR1)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGUSR2)


@pytest.fixture(scope="session")
def rtsp_available() -> None:
    probe = subprocess.run(
        [DEBIAN_PYTHON, "-c", "import gi; gi.require_version('GstRtspServer', '1.0')"], capture_output=True,
    ) if Path(DEBIAN_PYTHON).exists() else None
    if probe is None or probe.returncode != 0:
        pytest.fail(f"GStreamer's RTSP server is missing: apt-get install {PACKAGES} (make test does it)")


@pytest.fixture
def rtsp_server(tmp_path: Path, rtsp_available: None) -> Iterator[RtspServer]:
    server = RtspServer(tmp_path / "rtsp-server.log").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def people_frames(tmp_path_factory: pytest.TempPathFactory, sample_video: Path) -> Path:
    """The first 60 frames of vtest.avi (people walking) as half-size JPEGs, for the server to loop."""
    folder = tmp_path_factory.mktemp("people-frames")
    capture = cv2.VideoCapture(str(sample_video))
    for i in range(60):
        ok, image = capture.read()
        assert ok, f"{sample_video}: frame {i} unreadable"
        cv2.imwrite(str(folder / f"{i:05d}.jpg"), cv2.resize(image, (384, 288)))
    capture.release()
    return folder


def wait_until(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def run_reader(config: CameraConfig, opener: Callable | None = None) -> tuple[CameraReader, threading.Event]:
    stop = threading.Event()
    reader = CameraReader(config, stop, opener) if opener else CameraReader(config, stop)
    reader.start()
    return reader, stop


@pytest.mark.slow
def test_server_restart_is_followed_with_growing_backoff(rtsp_server: RtspServer) -> None:
    config = CameraConfig(name="door", source=rtsp_server.url, stall_timeout_s=3, reconnect_max_s=2)
    reader, stop = run_reader(config)
    try:
        assert wait_until(lambda: reader.frames_read >= 10, timeout=15), "no frames from the RTSP server"
        rtsp_server.stop()
        assert wait_until(lambda: len(reader.reconnect_history) >= 5, timeout=20), list(reader.reconnect_history)
        attempts = list(reader.reconnect_history)[:5]
        # The stream had delivered, so the first wait is the shortest; then every failed open doubles it, up to
        # reconnect_max_s.
        assert [a.delay_s for a in attempts] == [0.5, 1.0, 2.0, 2.0, 2.0]
        assert attempts[0].reason in ("ended", "stalled") and {a.reason for a in attempts[1:]} == {"open failed"}
        gaps = [later.at - earlier.at for earlier, later in zip(attempts, attempts[1:], strict=False)]
        assert all(gap >= a.delay_s for gap, a in zip(gaps, attempts, strict=False)), gaps

        rtsp_server.start()
        before = reader.frames_read
        assert wait_until(lambda: reader.frames_read >= before + 10, timeout=20), "no frames after the restart"
        assert reader.state == "streaming"
    finally:
        stop.set()
        reader.join(timeout=5)


@pytest.mark.slow
def test_connected_stream_without_frames_is_detected_within_stall_timeout(rtsp_server: RtspServer) -> None:
    stall_timeout_s = 2.0
    config = CameraConfig(name="door", source=rtsp_server.url, stall_timeout_s=stall_timeout_s, reconnect_max_s=1)
    reader, stop = run_reader(config)
    try:
        assert wait_until(lambda: reader.frames_read >= 10, timeout=15), "no frames from the RTSP server"
        rtsp_server.pause()
        paused = time.monotonic()
        assert wait_until(lambda: len(reader.reconnect_history) >= 1, timeout=3 * stall_timeout_s)
        detected = reader.reconnect_history[0]
        assert detected.reason == "stalled"
        # Frames already in flight may arrive just after the pause; then nothing comes for stall_timeout_s.
        assert stall_timeout_s <= detected.at - paused <= stall_timeout_s + 1.0
        assert reader.state == "reconnecting"

        rtsp_server.resume()
        before = reader.frames_read
        assert wait_until(lambda: reader.frames_read >= before + 10, timeout=20), "no frames after resuming"
    finally:
        stop.set()
        reader.join(timeout=5)


class WedgedCapture:
    """A real capture of a clip whose `read` blocks for good after `frames` frames, as a wedged USB driver's or a
    file on a dead network mount's does (neither can be produced here). `release` records that it happened."""

    def __init__(self, clip: Path, frames: int, unblock: threading.Event) -> None:
        self.capture = cv2.VideoCapture(str(clip))
        self.frames = frames
        self.unblock = unblock
        self.released = False

    def isOpened(self) -> bool:  # noqa: N802 (cv2.VideoCapture's name)
        return self.capture.isOpened()

    def get(self, prop: int) -> float:
        return self.capture.get(prop)

    def read(self) -> tuple[bool, object]:
        if self.frames == 0:
            self.unblock.wait()
            return False, None
        self.frames -= 1
        return self.capture.read()

    def release(self) -> None:
        self.capture.release()
        self.released = True


@pytest.mark.parametrize("source", ["0", "clip.avi"], ids=["usb", "file"])
def test_a_read_that_blocks_is_abandoned_and_the_source_reopened(tmp_path: Path, source: str) -> None:
    clip = write_clip(tmp_path / "clip.avi", frames=200, fps=25.0)
    unblock = threading.Event()
    opened: list[WedgedCapture] = []

    def opener(_source: str, _timeout_s: float) -> WedgedCapture:
        opened.append(WedgedCapture(clip, frames=5 if not opened else 200, unblock=unblock))
        return opened[-1]

    stall_timeout_s = 0.5
    config = CameraConfig(name="c", source=str(tmp_path / source) if source != "0" else "0", loop=True,
                          stall_timeout_s=stall_timeout_s)
    reader, stop = run_reader(config, opener)
    try:
        assert wait_until(lambda: reader.frames_read >= 5 and reader.reconnect_history, timeout=5)
        stalled = reader.reconnect_history[0]
        assert stalled.reason == "stalled" and stalled.delay_s == 0.5
        assert wait_until(lambda: reader.frames_read >= 15, timeout=5), "the reopened source delivered nothing"
        assert len(opened) >= 2 and not opened[0].released  # still blocked, abandoned
        unblock.set()
        assert wait_until(lambda: opened[0].released, timeout=2), "the abandoned capture was never released"
    finally:
        unblock.set()
        stop.set()
        reader.join(timeout=5)
    assert not reader.is_alive()


def test_a_wedged_driver_holds_a_bounded_number_of_threads(tmp_path: Path) -> None:
    """Reads that never return: after MAX_LINGERING abandoned captures the reader stops opening new ones
    (each would hold another thread) until one returns."""
    clip = write_clip(tmp_path / "clip.avi", frames=50)
    unblock = threading.Event()
    opened: list[WedgedCapture] = []

    def opener(_source: str, _timeout_s: float) -> WedgedCapture:
        opened.append(WedgedCapture(clip, frames=0, unblock=unblock))
        return opened[-1]

    config = CameraConfig(name="usb", source="0", stall_timeout_s=0.2, reconnect_max_s=0.2)
    reader, stop = run_reader(config, opener)
    try:
        assert wait_until(lambda: len(reader.reconnect_history) >= MAX_LINGERING + 3, timeout=10)
        assert len(opened) == MAX_LINGERING and reader.lingering.count == MAX_LINGERING
        assert {a.reason for a in reader.reconnect_history} == {"stalled"}
        unblock.set()  # the driver comes back: the stuck reads return, the captures are released
        assert wait_until(lambda: all(c.released for c in opened[:MAX_LINGERING]), timeout=3)
        assert wait_until(lambda: len(opened) > MAX_LINGERING, timeout=3), "the reader never tried again"
    finally:
        unblock.set()
        stop.set()
        reader.join(timeout=5)


@pytest.mark.slow
def test_agent_counts_people_from_rtsp_across_a_server_restart(
    tmp_path: Path, rtsp_available: None, people_frames: Path, broker, subscribe, store
) -> None:
    server = RtspServer(tmp_path / "rtsp-server.log", frames=people_frames, fps=10).start()
    sub = subscribe(broker.port)
    config = agent_config(tmp_path, broker.port, server.url)
    config.write_text(config.read_text() + "stall_timeout_s = 3\nreconnect_max_s = 1\n")
    agent = start_agent(config)
    try:
        assert sub.wait_for(lambda s: any(c["count"] >= 1 for c in s.json("/cam1/count")), timeout=90), \
            "no person counted from the RTSP stream"
        server.stop()
        assert sub.wait_for(lambda s: any(t["cameras"]["cam1"]["state"] == "reconnecting"
                                          for t in s.json("/telemetry")), timeout=30)
        last_frame = max(c["frame"] for c in sub.json("/cam1/count"))
        server.start()
        assert sub.wait_for(lambda s: max(c["frame"] for c in s.json("/cam1/count")) > last_frame + 10, timeout=40), \
            "counting did not resume after the server came back"
    finally:
        agent.send_signal(signal.SIGTERM)
        server.stop()
    code, output = finish(agent, config)
    assert code == 0, output[-3000:]
    counts = sub.json("/cam1/count")
    assert [c["seq"] for c in counts] == list(range(len(counts)))
    assert all(c["model"] == "person-ssdlite@1" for c in counts)
