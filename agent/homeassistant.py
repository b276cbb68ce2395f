"""Home Assistant MQTT discovery: each camera appears as a device with occupancy, in and out sensors.

Opt-in (`[homeassistant] enabled = true`). Every config is published retained, QoS 1, on
`<discovery_prefix>/sensor/<node_id>/<object_id>/config` after every (re)connection, with
`node_id = <prefix>_<device_id>` and `object_id = <camera>_<sensor>` (characters outside
`[a-zA-Z0-9_-]` become `_`, as Home Assistant requires). The sensors read this agent's count messages
(`value_template` picks `count`, `in` or `out`) and follow its retained `available` topic.

Removal: on connect the agent subscribes to its own node's discovery configs. What the broker still
retains there from an earlier run and no longer matches a configured sensor (a camera removed or
renamed, a line removed) is cleared with an empty retained payload, which makes Home Assistant delete
the entity. Stopping the agent removes nothing: its sensors become unavailable through `available`.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import paho.mqtt.client as paho
from pydantic import BaseModel, ConfigDict, Field

from agent import __version__
from agent.config import AgentConfig, CameraConfig
from agent.mqtt import OFFLINE, ONLINE, MqttLink
from agent.topics import Topics

log = logging.getLogger(__name__)

COMPONENT = "sensor"
UNIT = "people"
MANUFACTURER = "headcount"
MODEL = "headcount people counter"
_NOT_ALLOWED = re.compile(r"[^a-zA-Z0-9_-]")


def discovery_id(text: str) -> str:
    """`text` with every character outside Home Assistant's `[a-zA-Z0-9_-]` replaced by `_`."""
    return _NOT_ALLOWED.sub("_", text)


@dataclass(frozen=True)
class SensorKind:
    key: str  # object id suffix
    name: str  # entity name, shown after the device's name
    field: str  # field of the count message it reads
    state_class: str
    icon: str
    needs_line: bool


SENSORS = (
    SensorKind("occupancy", "Occupancy", "count", "measurement", "mdi:account-group", needs_line=False),
    SensorKind("in", "In", "in", "total_increasing", "mdi:account-arrow-right", needs_line=True),
    SensorKind("out", "Out", "out", "total_increasing", "mdi:account-arrow-left", needs_line=True),
)


class _Discovery(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DiscoveryDevice(_Discovery):
    identifiers: list[str] = Field(description="IDs that identify the device (one per camera).")
    name: str
    manufacturer: str
    model: str
    sw_version: str


class DiscoveryOrigin(_Discovery):
    name: str
    sw_version: str


class SensorDiscovery(_Discovery):
    """The payload of one sensor's discovery config (Home Assistant's MQTT sensor options, unabbreviated)."""

    name: str
    unique_id: str
    state_topic: str
    value_template: str
    state_class: str
    unit_of_measurement: str
    icon: str
    qos: int
    availability_topic: str
    payload_available: str
    payload_not_available: str
    device: DiscoveryDevice
    origin: DiscoveryOrigin


def node_id(config: AgentConfig) -> str:
    return discovery_id(f"{config.mqtt.prefix}_{config.device_id}")


def discovery_topic(config: AgentConfig, camera: str, sensor: str) -> str:
    prefix = config.homeassistant.discovery_prefix
    return f"{prefix}/{COMPONENT}/{node_id(config)}/{discovery_id(f'{camera}_{sensor}')}/config"


def _sensor(config: AgentConfig, topics: Topics, camera: CameraConfig, kind: SensorKind) -> SensorDiscovery:
    node = node_id(config)
    return SensorDiscovery(
        name=kind.name,
        unique_id=f"{node}_{discovery_id(camera.name)}_{kind.key}",
        state_topic=topics.name("count", camera=camera.name),
        # subscript, not `value_json.in`: `in` is a Jinja operator and would not parse
        value_template=f"{{{{ value_json['{kind.field}'] }}}}",
        state_class=kind.state_class,
        unit_of_measurement=UNIT,
        icon=kind.icon,
        qos=topics.spec("count").qos,
        availability_topic=topics.name("available"),
        payload_available=ONLINE.decode(),
        payload_not_available=OFFLINE.decode(),
        device=DiscoveryDevice(
            identifiers=[f"{node}_{discovery_id(camera.name)}"], name=f"{camera.name} ({config.device_id})",
            manufacturer=MANUFACTURER, model=MODEL, sw_version=__version__,
        ),
        origin=DiscoveryOrigin(name=MANUFACTURER, sw_version=__version__),
    )


def discovery_configs(config: AgentConfig, topics: Topics) -> dict[str, SensorDiscovery]:
    """Discovery topic -> payload for every sensor of every configured camera."""
    return {
        discovery_topic(config, camera.name, kind.key): _sensor(config, topics, camera, kind)
        for camera in config.cameras
        for kind in SENSORS
        if camera.line is not None or not kind.needs_line
    }


class HomeAssistantDiscovery:
    """Publishes this agent's discovery configs and clears the stale ones it finds retained."""

    def __init__(self, config: AgentConfig, link: MqttLink) -> None:
        self.link = link
        self.configs = discovery_configs(config, link.topics)
        prefix = config.homeassistant.discovery_prefix
        self.own_configs = f"{prefix}/{COMPONENT}/{node_id(config)}/+/config"
        self.removed: list[str] = []

    def attach(self) -> None:
        """Hook into the link: publish (and sweep) after every connection. Call before `link.start()`."""
        self.link.client.message_callback_add(self.own_configs, self._on_retained)
        self.link.on_connect(self.publish)

    def publish(self) -> None:
        client = self.link.client
        client.subscribe(self.own_configs, qos=1)  # retained configs of earlier runs arrive: see _on_retained
        for topic, payload in self.configs.items():
            client.publish(topic, payload.model_dump_json(), qos=1, retain=True)
        log.info("published %d Home Assistant discovery configs under %s", len(self.configs), self.own_configs)

    def _on_retained(self, client: paho.Client, _userdata: object, message: paho.MQTTMessage) -> None:
        if not message.retain or not message.payload or message.topic in self.configs:
            return  # our own live publications, deletions, or a config that is still current
        log.info("removing stale Home Assistant discovery config %s (no such camera or sensor now)", message.topic)
        client.publish(message.topic, b"", qos=1, retain=True)
        self.removed.append(message.topic)
