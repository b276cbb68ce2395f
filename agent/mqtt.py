"""The agent's MQTT link (paho-mqtt 2.x): last will, reconnects by itself, retained availability and state.

The link never blocks the counting loop: publishing hands the message to paho's network thread, and a
broker that is down at start is retried in the background (logged) while counting goes on.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable

import paho.mqtt.client as paho
from pydantic import BaseModel

from agent.config import MqttConfig
from agent.topics import Topics

log = logging.getLogger(__name__)

ONLINE, OFFLINE = b"online", b"offline"


def make_client(config: MqttConfig, client_id: str) -> paho.Client:
    """A paho client with the config's credentials, TLS and reconnect delays (not connected)."""
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv311)
    if config.username:
        client.username_pw_set(config.username, config.password)
    if config.tls is not None:
        tls = config.tls
        client.tls_set(
            ca_certs=str(tls.ca_file) if tls.ca_file else None,
            certfile=str(tls.cert_file) if tls.cert_file else None,
            keyfile=str(tls.key_file) if tls.key_file else None,
            cert_reqs=ssl.CERT_REQUIRED,
        )
        client.tls_insecure_set(tls.insecure)
    client.reconnect_delay_set(min_delay=1, max_delay=max(1, int(config.reconnect_max_s)))
    return client


class MqttLink:
    """One broker connection for one agent."""

    def __init__(
        self,
        config: MqttConfig,
        topics: Topics,
        client_id: str,
        on_command: Callable[[bytes], None] | None = None,
        announce: bool = True,
    ) -> None:
        """`announce=False` for tools beside the agent (bench, CLI): no last will, no `online`/`offline`,
        no command subscription, so the running agent's retained availability is never touched."""
        self.config = config
        self.announce = announce
        self.topics = topics
        self.connected = threading.Event()
        self._on_command = on_command
        self._on_connect_hooks: list[Callable[[], None]] = []
        self._on_publish_hooks: list[Callable[[int], None]] = []
        self._on_disconnect_hooks: list[Callable[[], None]] = []
        self._last_fail_log = 0.0
        self._stopping = False
        self.client = make_client(config, client_id)
        self._configure()

    def _configure(self) -> None:
        client = self.client
        if self.announce:
            client.will_set(self.topics.name("available"), OFFLINE, qos=1, retain=True)
        client.max_queued_messages_set(0)
        client.on_connect = self._handle_connect
        client.on_disconnect = self._handle_disconnect
        client.on_connect_fail = self._handle_connect_fail
        client.on_message = self._handle_message
        client.on_publish = self._handle_publish

    def on_connect(self, hook: Callable[[], None]) -> None:
        """Run `hook` (in paho's thread) after every (re)connection, e.g. to re-publish state."""
        self._on_connect_hooks.append(hook)

    def on_disconnect(self, hook: Callable[[], None]) -> None:
        """Run `hook` (in paho's thread) when the connection is lost or closed."""
        self._on_disconnect_hooks.append(hook)

    def on_publish(self, hook: Callable[[int], None]) -> None:
        """Run `hook(mid)` when the broker acknowledged a QoS 1 message. Called with paho's lock held:
        the hook must not call back into the client or wait on anything."""
        self._on_publish_hooks.append(hook)

    def start(self) -> None:
        log.info("connecting to MQTT broker %s:%d", self.config.host, self.config.port)
        self.client.connect_async(self.config.host, self.config.port, keepalive=self.config.keepalive_s)
        self.client.loop_start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Publish `offline`, let queued messages go out for up to `timeout_s`, disconnect."""
        self._stopping = True
        if self.connected.is_set() and self.announce:
            info = self.publish("available", OFFLINE)
            try:
                info.wait_for_publish(timeout=timeout_s)
            except (RuntimeError, ValueError):
                pass
        self.client.disconnect()
        self.client.loop_stop()
        self.connected.clear()

    def publish(self, key: str, payload: BaseModel | bytes | str, **topic_fields: str) -> paho.MQTTMessageInfo:
        spec = self.topics.spec(key)
        data = payload.model_dump_json(by_alias=True).encode() if isinstance(payload, BaseModel) else payload
        return self.client.publish(self.topics.name(key, **topic_fields), data, qos=spec.qos, retain=spec.retain)

    def _handle_connect(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
        if reason_code.is_failure:
            log.error("MQTT broker refused the connection: %s", reason_code)
            return
        log.info("connected to MQTT broker %s:%d", self.config.host, self.config.port)
        self.connected.set()
        if self.announce:
            client.subscribe(self.topics.name("cmd"), qos=self.topics.spec("cmd").qos)
            self.publish("available", ONLINE)
        for hook in self._on_connect_hooks:
            try:
                hook()
            except Exception:  # a hook must never kill paho's network thread
                log.exception("on-connect hook failed")

    def _handle_disconnect(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
        if self.connected.is_set() and not self._stopping:
            log.warning("disconnected from MQTT broker (%s); reconnecting", reason_code)
        self.connected.clear()
        for hook in self._on_disconnect_hooks:
            hook()

    def _handle_connect_fail(self, client, userdata) -> None:  # noqa: ANN001
        now = time.monotonic()
        if now - self._last_fail_log > 30:
            log.warning(
                "MQTT broker %s:%d unreachable; counting goes on, retrying in the background",
                self.config.host, self.config.port,
            )
            self._last_fail_log = now

    def _handle_publish(self, client, userdata, mid, reason_code, properties) -> None:  # noqa: ANN001
        for hook in self._on_publish_hooks:
            hook(mid)

    def _handle_message(self, client, userdata, message: paho.MQTTMessage) -> None:  # noqa: ANN001
        if self._on_command is None:
            return
        try:
            self._on_command(message.payload)
        except Exception:
            log.exception("command handler failed")
