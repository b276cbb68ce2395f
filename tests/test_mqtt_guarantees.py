"""The MQTT guarantees docs/mqtt.md promises, checked with real subscribers on a real Mosquitto:
every topic of `agent.topics.TOPICS` arrives with its documented QoS (seen by a QoS 2 subscriber, which
receives each message at the QoS it was published with), `state` and `available` are retained for late
subscribers, and the broker publishes `offline` (the last will) when the agent is SIGKILLed."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as paho
import pytest

from agent.topics import TOPICS
from tests.helpers import ROOT, Recording, agent_config, finish, start_agent

pytestmark = pytest.mark.slow

BASE = "headcount/test-pc"
NOT_PUBLISHED = {"cmd": "the agent subscribes to it; commands come from operators"}
"""Topics of TOPICS this test does not expect the agent or its tools to publish, and why."""

LINE = "\n[cameras.line]\nstart = [0.5, 0.0]\nend = [0.5, 1.0]\ninside = [0.75, 0.5]\nmin_frames = 2\n"
"""A counting line across the middle of vtest.avi's plaza, so crossings happen."""


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes
    qos: int
    retain: bool


@dataclass
class QosSubscriber(Recording):
    """A real MQTT client subscribed at QoS 2 that records each message with its QoS and retain flag."""

    port: int
    client_id: str
    messages: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._cond = threading.Condition()
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=self.client_id,
                                  protocol=paho.MQTTv311)
        self.client.on_connect = lambda c, *_: c.subscribe(f"{BASE}/#", qos=2)
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", self.port)
        self.client.loop_start()

    def _on_message(self, _c: object, _u: object, msg: paho.MQTTMessage) -> None:
        with self._cond:
            self.messages.append(Received(msg.topic, msg.payload, msg.qos, bool(msg.retain)))
            self._cond.notify_all()

    def on(self, key: str) -> list[Received]:
        pattern = re.compile(re.escape(f"{BASE}/") + re.escape(TOPICS[key].suffix).replace(r"\{camera\}", "[^/]+"))
        with self._cond:
            return [m for m in self.messages if pattern.fullmatch(m.topic)]

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def command(port: int, payload: dict) -> None:
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"test-commander-{payload['request_id']}")
    client.connect("127.0.0.1", port)
    client.loop_start()
    client.publish(f"{BASE}/cmd", json.dumps(payload), qos=1).wait_for_publish(timeout=10)
    client.loop_stop()
    client.disconnect()


def start_bench(config: Path) -> subprocess.Popen:
    """A short real `headcount-agent bench` that publishes its result on `bench`; log in `bench.log`."""
    with open(config.parent / "bench.log", "w") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "agent.cli", "bench", "--config", str(config), "--models", "person-ssdlite@1",
             "--devices", "CPU", "--iterations", "5", "--warmup", "1", "--throughput-s", "0.5",
             "--markdown", str(config.parent / "bench.md")],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        )


def test_every_topic_arrives_with_its_documented_qos(tmp_path: Path, broker, sample_video: Path, store) -> None:
    sub = QosSubscriber(broker.port, "qos2-subscriber")
    config = agent_config(tmp_path, broker.port, sample_video, loop=True, realtime=True)
    config.write_text(config.read_text() + LINE)
    agent = start_agent(config)
    bench = start_bench(config)  # beside the agent, as an operator would run it
    try:
        assert sub.wait_for(lambda s: s.on("count") and s.on("telemetry"), timeout=90), config.parent.name
        command(broker.port, {"action": "status", "request_id": "q1"})
        command(broker.port, {"action": "snapshot", "camera": "cam1", "request_id": "q2"})
        assert bench.wait(timeout=180) == 0, (config.parent / "bench.log").read_text()[-3000:]
        expected = set(TOPICS) - set(NOT_PUBLISHED)
        assert sub.wait_for(lambda s: all(s.on(key) for key in expected), timeout=60), \
            f"never published: {sorted(k for k in expected if not sub.on(k))}"
    finally:
        if bench.poll() is None:
            bench.kill()
        agent.send_signal(signal.SIGTERM)
        code, output = finish(agent, config)
        sub.close()
    assert code == 0, output[-3000:]
    for key in expected:
        qos = {m.qos for m in sub.on(key)}
        assert qos == {TOPICS[key].qos}, f"{key}: published at QoS {qos}, documented {TOPICS[key].qos}"
        if not TOPICS[key].retain:
            assert not any(m.retain for m in sub.on(key)), f"{key}: arrived retained"


def test_state_and_available_are_retained_and_sigkill_publishes_the_last_will(
    tmp_path: Path, broker, sample_video: Path, store
) -> None:
    early = QosSubscriber(broker.port, "early-subscriber")
    config = agent_config(tmp_path, broker.port, sample_video, loop=True, realtime=True)
    agent = start_agent(config)
    subscribers = [early]
    try:
        assert early.wait_for(lambda s: s.on("state") and s.on("count"), timeout=90)

        late = QosSubscriber(broker.port, "late-subscriber")
        subscribers.append(late)
        assert late.wait_for(lambda s: s.on("state") and s.on("available"), timeout=10)
        assert [(m.payload, m.retain, m.qos) for m in late.on("available")[:1]] == [(b"online", True, 1)]
        state = late.on("state")[0]
        assert state.retain and state.qos == TOPICS["state"].qos
        assert json.loads(state.payload)["model"] == "person-ssdlite@1"

        agent.send_signal(signal.SIGKILL)  # no chance to say goodbye: only the broker can
        assert early.wait_for(lambda s: s.on("available")[-1].payload == b"offline", timeout=15)
        will = early.on("available")[-1]
        assert will.qos == TOPICS["available"].qos and not will.retain  # live delivery to a subscription

        after = QosSubscriber(broker.port, "after-crash-subscriber")
        subscribers.append(after)
        assert after.wait_for(lambda s: s.on("available") and s.on("state"), timeout=10)
        assert [(m.payload, m.retain) for m in after.on("available")] == [(b"offline", True)]
        assert after.on("state")[0].payload == state.payload  # what ran last is still there to read
    finally:
        if agent.poll() is None:
            agent.kill()
        agent.wait()
        for sub in subscribers:
            sub.close()
    assert agent.returncode == -signal.SIGKILL
