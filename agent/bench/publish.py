"""Publishing bench results on `<prefix>/<device_id>/bench` with the agent's MQTT settings.

Uses `MqttLink` for the broker settings (TLS, credentials, topic names) with `announce=False`: the
bench may run beside the agent's service, whose retained `available` it must not touch.
"""

from __future__ import annotations

import logging

from agent.config import AgentConfig
from agent.mqtt import MqttLink
from agent.topics import Topics
from models.bench import BenchResult

log = logging.getLogger(__name__)


class BenchPublisher:
    def __init__(self, config: AgentConfig) -> None:
        client_id = f"{config.mqtt.client_id or 'headcount-' + config.device_id}-bench"
        self.link = MqttLink(config.mqtt, Topics(config.mqtt.prefix, config.device_id), client_id, announce=False)

    def __enter__(self) -> BenchPublisher:
        self.link.start()
        return self

    def publish(self, result: BenchResult, timeout_s: float = 10.0) -> bool:
        """Publish one result (QoS 1) and wait for the broker's PUBACK; False when it did not come."""
        if not self.link.connected.wait(timeout_s):
            log.error("bench: MQTT broker %s:%d not reachable; result not published",
                      self.link.config.host, self.link.config.port)
            return False
        info = self.link.publish("bench", result)
        try:
            info.wait_for_publish(timeout=timeout_s)
        except (RuntimeError, ValueError):
            return False
        return info.is_published()

    def __exit__(self, *exc: object) -> None:
        self.link.stop()
