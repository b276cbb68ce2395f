"""Home Assistant discovery against a real Mosquitto: payloads field by field, retained, stale ones removed."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator

import paho.mqtt.client as paho
import pytest

from agent import __version__
from agent.config import AgentConfig
from agent.homeassistant import HomeAssistantDiscovery, discovery_configs
from agent.mqtt import MqttLink
from agent.topics import CountMessage, Topics
from tests.helpers import Subscriber

LINE = {"start": [0.1, 0.5], "end": [0.9, 0.5], "inside": [0.5, 0.9]}
HA_ID = re.compile(r"^[a-zA-Z0-9_-]+$")  # Home Assistant's character class for node_id and object_id
STATE_CLASSES = {"measurement", "total", "total_increasing"}  # Home Assistant's sensor state classes


def make_config(port: int, cameras: list[dict]) -> AgentConfig:
    return AgentConfig.model_validate({
        "device_id": "pc1.hall", "mqtt": {"host": "127.0.0.1", "port": port, "reconnect_max_s": 1},
        "homeassistant": {"enabled": True}, "cameras": cameras,
    })


@pytest.fixture
def running_link(broker) -> Iterator[Callable[[AgentConfig], HomeAssistantDiscovery]]:
    links: list[MqttLink] = []

    def start(config: AgentConfig) -> HomeAssistantDiscovery:
        link = MqttLink(config.mqtt, Topics(config.mqtt.prefix, config.device_id), "headcount-test-agent")
        discovery = HomeAssistantDiscovery(config, link)
        discovery.attach()
        link.start()
        assert link.connected.wait(10)
        links.append(link)
        return discovery

    yield start
    for link in links:
        link.stop(1)


def retained(port: int, topic: str = "homeassistant/#", settle_s: float = 0.5) -> dict[str, dict]:
    """What the broker retains under `topic` now: a fresh subscriber only gets retained messages."""
    sub = Subscriber(port, topic, client_id=f"probe-{time.monotonic_ns()}")
    time.sleep(settle_s)
    sub.close()
    return {t: json.loads(p) for t, p in sub.messages if p}


def wait_retained(port: int, expected: set[str], exact: bool = True, timeout: float = 10.0) -> dict[str, dict]:
    """Retained configs once they are `expected` (or include it, `exact=False`), or at the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        found = retained(port)
        if (set(found) == expected if exact else expected <= set(found)) or time.monotonic() > deadline:
            return found


CAMERAS = [{"name": "door", "source": "0", "line": LINE}, {"name": "lobby", "source": "1"}]
NODE = "headcount_pc1_hall"  # prefix and device id, `.` replaced as Home Assistant requires


def test_each_camera_is_a_device_with_its_sensors_retained(broker, running_link) -> None:
    running_link(make_config(broker.port, CAMERAS))
    expected = {f"homeassistant/sensor/{NODE}/{obj}/config" for obj in
                ("door_occupancy", "door_in", "door_out", "lobby_occupancy")}  # no line at the lobby: no in/out
    configs = wait_retained(broker.port, expected)
    assert set(configs) == expected
    for topic in configs:
        prefix, component, node, obj, last = topic.split("/")
        assert (prefix, component, last) == ("homeassistant", "sensor", "config")
        assert HA_ID.match(node) and HA_ID.match(obj)
    assert len({c["unique_id"] for c in configs.values()}) == len(configs)
    devices = {c["device"]["identifiers"][0] for c in configs.values()}
    assert devices == {f"{NODE}_door", f"{NODE}_lobby"}


@pytest.mark.parametrize("obj, name, state_class", [
    ("door_occupancy", "Occupancy", "measurement"),
    ("door_in", "In", "total_increasing"),
    ("door_out", "Out", "total_increasing"),
])
def test_sensor_payload_field_by_field(broker, running_link, obj: str, name: str, state_class: str) -> None:
    running_link(make_config(broker.port, CAMERAS))
    topic = f"homeassistant/sensor/{NODE}/{obj}/config"
    config = wait_retained(broker.port, {topic}, exact=False)[topic]
    assert config["name"] == name
    assert config["unique_id"] == f"{NODE}_{obj}"
    assert config["state_topic"] == "headcount/pc1.hall/door/count"
    assert config["state_class"] == state_class and state_class in STATE_CLASSES
    assert config["unit_of_measurement"] == "people"
    assert config["qos"] == 1
    assert config["icon"].startswith("mdi:")
    assert config["availability_topic"] == "headcount/pc1.hall/available"
    assert (config["payload_available"], config["payload_not_available"]) == ("online", "offline")
    assert config["device"] == {
        "identifiers": [f"{NODE}_door"], "name": "door (pc1.hall)", "manufacturer": "headcount",
        "model": "headcount people counter", "sw_version": __version__,
    }
    assert config["origin"] == {"name": "headcount", "sw_version": __version__}
    sub = Subscriber(broker.port, config["availability_topic"], client_id="probe-available")  # the agent's own
    assert sub.wait_for(lambda s: s.payloads("available") == [config["payload_available"].encode()], timeout=5)
    sub.close()


def test_value_templates_read_the_count_message() -> None:
    jinja2 = pytest.importorskip("jinja2")  # Home Assistant renders these with Jinja
    fields = CountMessage.model_json_schema(by_alias=True)["properties"]
    assert {"count", "in", "out"} <= set(fields), "the templates read fields the count message must have"
    value_json = {"ts": 1.0, "seq": 4, "camera": "door", "count": 3, "in": 7, "out": 2, "model": "m@1"}
    config = make_config(1883, CAMERAS)
    rendered = {
        topic.split("/")[3]: jinja2.Environment().from_string(payload.value_template).render(value_json=value_json)
        for topic, payload in discovery_configs(config, Topics("headcount", "pc1.hall")).items()
    }
    assert rendered == {"door_occupancy": "3", "door_in": "7", "door_out": "2", "lobby_occupancy": "3"}


def test_configs_of_removed_cameras_and_lines_are_cleared(broker, running_link) -> None:
    earlier = make_config(broker.port, [*CAMERAS, {"name": "old", "source": "2", "line": LINE}])
    publisher = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="earlier-run")
    publisher.connect("127.0.0.1", broker.port)
    publisher.loop_start()
    for topic, payload in discovery_configs(earlier, Topics("headcount", "pc1.hall")).items():
        publisher.publish(topic, payload.model_dump_json(), qos=1, retain=True).wait_for_publish(5)
    publisher.publish("homeassistant/sensor/other_agent/cam_occupancy/config", b'{"name": "x"}', qos=1,
                      retain=True).wait_for_publish(5)
    publisher.loop_stop()
    publisher.disconnect()
    assert len(retained(broker.port)) == 8

    now = [{"name": "door", "source": "0"}, {"name": "lobby", "source": "1"}]  # `old` gone, door's line gone
    discovery = running_link(make_config(broker.port, now))
    expected = {f"homeassistant/sensor/{NODE}/door_occupancy/config",
                f"homeassistant/sensor/{NODE}/lobby_occupancy/config",
                "homeassistant/sensor/other_agent/cam_occupancy/config"}  # another agent's: untouched
    assert set(wait_retained(broker.port, expected)) == expected
    assert sorted(t.split("/")[3] for t in discovery.removed) == ["door_in", "door_out", "old_in", "old_occupancy",
                                                                  "old_out"]
