"""Count messages on their way to the broker: numbered per camera, then published with QoS 1."""

from __future__ import annotations

import threading
from collections import defaultdict

from agent.mqtt import MqttLink
from agent.topics import CountMessage


class CountOutbox:
    """Gives each camera's messages a monotonic `seq` and hands them to the MQTT link."""

    def __init__(self, link: MqttLink) -> None:
        self.link = link
        self._lock = threading.Lock()
        self._seq: dict[str, int] = defaultdict(int)

    def put(self, message: CountMessage) -> CountMessage:
        with self._lock:
            numbered = message.model_copy(update={"seq": self._seq[message.camera]})
            self._seq[message.camera] += 1
        self.link.publish("count", numbered, camera=numbered.camera)
        return numbered

    def flush(self, timeout_s: float) -> None:
        """Nothing is held here yet; paho sends what it has queued before disconnecting."""
