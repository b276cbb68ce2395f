"""TLS and username/password against a real Mosquitto that requires both."""

from __future__ import annotations

import signal
import ssl
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as paho
import pytest

from agent import exit_codes
from agent.local_broker import BrokerTls, LocalBroker
from tests.helpers import agent_config, finish, start_agent

pytestmark = pytest.mark.slow


def make_certificates(folder: Path) -> BrokerTls:
    """A throwaway CA and a server certificate for 127.0.0.1 / localhost, made with openssl."""
    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
            "-subj", "/CN=headcount test CA")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
            "-subj", "/CN=localhost")
    (folder / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.crt", "-days", "2", "-extfile", "san.ext")
    return BrokerTls(folder / "ca.crt", folder / "server.crt", folder / "server.key")


@pytest.fixture
def secure_broker(tmp_path: Path):
    tls = make_certificates(tmp_path)
    passwords = tmp_path / "passwords"
    for user, password in (("pc-17", "agent-secret"), ("operator", "operator-secret")):
        flag = ["-c"] if not passwords.exists() else []
        subprocess.run(["mosquitto_passwd", "-b", *flag, str(passwords), user, password], check=True)
    with LocalBroker(tls=tls, password_file=passwords) as broker:
        yield broker, tls


def test_agent_counts_over_tls_with_a_password_from_the_environment(tmp_path: Path, secure_broker, sample_video,
                                                                     store) -> None:
    broker, tls = secure_broker
    received: list[bytes] = []
    sub = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="dashboard")
    sub.tls_set(ca_certs=str(tls.ca_file), cert_reqs=ssl.CERT_REQUIRED)
    sub.username_pw_set("operator", "operator-secret")
    sub.on_connect = lambda c, *_: c.subscribe("headcount/#", qos=1)
    sub.on_message = lambda _c, _u, m: received.append(m.topic.encode() + b" " + m.payload)
    sub.connect("127.0.0.1", broker.port)
    sub.loop_start()
    config = agent_config(tmp_path, broker.port, sample_video, loop=True, realtime=True)
    config.write_text(config.read_text().replace(
        "reconnect_max_s = 1", f'reconnect_max_s = 1\ntls = {{ ca_file = "{tls.ca_file}" }}\nusername = "pc-17"'))
    agent = start_agent(config, {"HEADCOUNT_MQTT_PASSWORD": "agent-secret"})
    try:
        counted = _wait(lambda: sum(b"/count " in r for r in received) >= 3)
    finally:
        agent.send_signal(signal.SIGTERM)
        code, log = finish(agent, config)
        sub.loop_stop()
        sub.disconnect()
    assert counted, log[-2000:]
    assert code == exit_codes.OK
    assert any(r.startswith(b"headcount/test-pc/available online") for r in received)


def test_wrong_password_is_refused_and_said(tmp_path: Path, secure_broker, sample_video, store) -> None:
    broker, tls = secure_broker
    config = agent_config(tmp_path, broker.port, sample_video, loop=True, realtime=True)
    config.write_text(config.read_text().replace(
        "reconnect_max_s = 1", f'reconnect_max_s = 1\ntls = {{ ca_file = "{tls.ca_file}" }}\nusername = "pc-17"'))
    agent = start_agent(config, {"HEADCOUNT_MQTT_PASSWORD": "wrong"})
    try:
        assert _wait(lambda: "refused the connection" in (tmp_path / "agent.log").read_text(), 30)
        assert agent.poll() is None, "a refused connection must not stop the counting"
    finally:
        agent.send_signal(signal.SIGTERM)
        code, _ = finish(agent, config)
    assert code == exit_codes.OK


def _wait(predicate: Callable[[], bool], timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False
