"""The operator's view from the real agent over a real broker: the CLI saves the annotated snapshot, unknown
cameras are refused by name, the interval publishes unretained images within the size bound, and Home
Assistant's discovered sensors read the agent's real count messages."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import paho.mqtt.client as paho
import pytest

from agent import exit_codes
from agent.cli import build_parser
from agent.local_broker import LocalBroker
from tests.helpers import Subscriber, agent_config, agent_log, start_agent
from tests.test_snapshot import is_red

pytestmark = pytest.mark.slow  # starts the real agent (model compile, inference on the clip)

MAX_BYTES = 40_000  # below what the 768x576 clip needs at quality 85: the bound must act
EXTRA_CONFIG = f"""snapshot_interval_s = 1

[cameras.line]
start = [0.1, 0.5]
end = [0.9, 0.5]
inside = [0.5, 0.9]

[snapshot]
max_bytes = {MAX_BYTES}

[homeassistant]
enabled = true
"""


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory, sample_video: Path, store) -> Iterator[tuple[Path, int]]:
    tmp = tmp_path_factory.mktemp("snapshot-agent")
    with LocalBroker() as broker:
        config = agent_config(tmp, broker.port, sample_video, loop=True, realtime=True)
        config.write_text(config.read_text() + EXTRA_CONFIG)
        agent = start_agent(config)
        sub = Subscriber(broker.port, "headcount/#", client_id="snapshot-ready")
        try:
            assert sub.wait_for(lambda s: len(s.payloads("/count")) >= 1, timeout=90), agent_log(config)[-3000:]
            yield config, broker.port
        finally:
            sub.close()
            agent.terminate()
            try:
                agent.wait(timeout=30)
            except subprocess.TimeoutExpired:
                agent.kill()


def run_cli(*argv: str) -> int:
    args = build_parser().parse_args(list(argv))
    return args.func(args)


def test_cli_saves_the_annotated_snapshot(running: tuple[Path, int], tmp_path: Path, capsys) -> None:
    config, _ = running
    out = tmp_path / "door.jpg"
    code = run_cli("snapshot", "--config", str(config), "--camera", "cam1", "--out", str(out), "--timeout", "30")
    assert code == exit_codes.OK, capsys.readouterr().err
    assert out.stat().st_size <= MAX_BYTES
    image = cv2.imdecode(np.frombuffer(out.read_bytes(), np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "not a decodable JPEG"
    height, width = image.shape[:2]
    assert f"{width}x{height} JPEG" in capsys.readouterr().out
    y = round(0.5 * height)
    along = [round(f * width) for f in (0.15, 0.25, 0.35, 0.65, 0.75, 0.85)]
    assert sum(is_red(image[y, x]) for x in along) >= 5, [image[y, x].tolist() for x in along]  # a person may cross
    assert not any(is_red(image[y - 20, x]) for x in along)


def test_unknown_camera_is_refused_by_name(running: tuple[Path, int], tmp_path: Path, capsys) -> None:
    config, _ = running
    out = tmp_path / "none.jpg"
    code = run_cli("snapshot", "--config", str(config), "--camera", "nope", "--out", str(out), "--timeout", "30")
    assert code == exit_codes.FAILURE
    assert "unknown camera 'nope'; cameras: cam1" in capsys.readouterr().err
    assert not out.exists()


def test_interval_snapshots_arrive_unretained_and_bounded(running: tuple[Path, int]) -> None:
    _, port = running
    seen: list[tuple[bool, int]] = []
    arrived = threading.Event()

    def on_message(_c: object, _u: object, message: paho.MQTTMessage) -> None:
        seen.append((message.retain, len(message.payload)))
        if len(seen) >= 2:
            arrived.set()

    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="snapshot-probe")
    client.on_connect = lambda c, *_: c.subscribe("headcount/test-pc/cam1/snapshot", qos=0)
    client.on_message = on_message
    client.connect("127.0.0.1", port)
    client.loop_start()
    started = time.monotonic()
    try:
        assert arrived.wait(10), f"interval snapshots did not arrive: {seen}"
    finally:
        client.loop_stop()
        client.disconnect()
    assert time.monotonic() - started >= 0.5  # paced by the interval, not a burst
    assert all(not retained and 0 < size <= MAX_BYTES for retained, size in seen), seen


def test_discovered_sensors_read_the_real_count_messages(running: tuple[Path, int]) -> None:
    jinja2 = pytest.importorskip("jinja2")  # Home Assistant renders value templates with Jinja
    _, port = running
    sub = Subscriber(port, "#", client_id="home-assistant-probe")  # subscribes as Home Assistant would
    try:
        assert sub.wait_for(lambda s: len(s.payloads("/config")) == 3 and s.payloads("cam1/count"), timeout=15)
        configs = {t.split("/")[3]: json.loads(p) for t, p in sub.messages if t.endswith("/config")}
        count = json.loads(sub.payloads("cam1/count")[-1])
        available = sub.payloads("test-pc/available")
    finally:
        sub.close()
    assert set(configs) == {"cam1_occupancy", "cam1_in", "cam1_out"}
    for key, field in (("cam1_occupancy", "count"), ("cam1_in", "in"), ("cam1_out", "out")):
        config = configs[key]
        assert config["state_topic"] == "headcount/test-pc/cam1/count"
        state = jinja2.Environment().from_string(config["value_template"]).render(value_json=count)
        assert state == str(count[field])
        assert available[-1:] == [config["payload_available"].encode()]
