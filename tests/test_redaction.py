"""No secrets anywhere: URL credentials are redacted by one function, and a real agent run leaks none.

The end-to-end test runs the real agent (subprocess, debug logging, real Mosquitto) on cameras whose
URLs carry a password and tokens and cannot be reached, asks it for its status over MQTT, and greps
everything it wrote and published for the secrets.
"""

from __future__ import annotations

import io
import json
import logging
import signal
import subprocess
import sys

import paho.mqtt.client as paho
import pytest

from agent.local_broker import free_port
from agent.redact import RedactingFilter, redact_source, redact_text
from tests.helpers import ROOT, agent_config, finish


@pytest.mark.parametrize(
    ("source", "shown"),
    [
        ("rtsp://admin:S3cretPass@cam/stream", "rtsp://admin:***@cam/stream"),
        ("rtsp://admin:S3cretPass@10.0.0.7:554/Streaming/101", "rtsp://admin:***@10.0.0.7:554/Streaming/101"),
        ("rtsp://admin:p@ss:w0rd@cam/s", "rtsp://admin:***@cam/s"),  # unencoded '@' and ':' in the password
        ("RTSP://Admin:S3cret@Cam/s", "RTSP://Admin:***@Cam/s"),
        ("https://ghp_T0kenAsUser@cam/video.mjpg", "https://***@cam/video.mjpg"),
        ("http://cam/video.cgi?user=admin&pwd=S3cret", "http://cam/video.cgi?user=admin&pwd=***"),
        ("rtsp://cam/cam/realmonitor?channel=1&subtype=0&user=admin&password=S3cret",
         "rtsp://cam/cam/realmonitor?channel=1&subtype=0&user=admin&password=***"),
        ("http://cam/mjpg?token=abc.DEF==&fps=10", "http://cam/mjpg?token=***&fps=10"),
        ("http://cam/s?api_key=K&apiKey=K2&access_token=T", "http://cam/s?api_key=***&apiKey=***&access_token=***"),
        ("https://bucket/v.mp4?X-Amz-Credential=C&X-Amz-Signature=S", "https://bucket/v.mp4?X-Amz-Credential=***&X-Amz-Signature=***"),
        ("http://cam/s?secret=x&auth=y&pass=z&passwd=w", "http://cam/s?secret=***&auth=***&pass=***&passwd=***"),
        ("rtsp://cam/s;password=S3cret;channel=2", "rtsp://cam/s;password=***;channel=2"),
        ("rtsp://u:S3cret@cam/s?token=T#frag", "rtsp://u:***@cam/s?token=***#frag"),
    ],
)
def test_credentials_are_masked(source: str, shown: str) -> None:
    assert redact_source(source) == shown


def test_password_in_the_path_is_masked() -> None:
    """XMeye-style cameras put `user=..._password=..._channel=..` in the path."""
    shown = redact_source("rtsp://cam:554/user=admin_password=tlJwpbo6_channel=1_stream=0.sdp")
    assert "tlJwpbo6" not in shown and shown.startswith("rtsp://cam:554/user=admin_password=***")


@pytest.mark.parametrize(
    "source",
    ["rtsp://cam/stream?channel=1&subtype=0", "rtsp://cam:554/Streaming/101", "/srv/videos/door.avi",
     "videos/key=1.avi", "0"],
)
def test_sources_without_credentials_are_unchanged(source: str) -> None:
    assert redact_source(source) == source


def test_every_url_in_a_message_is_masked() -> None:
    text = "cannot open rtsp://a:S3cret@h/x (OpenCV: 'http://h/y?token=T0ken'); giving up"
    assert redact_text(text) == "cannot open rtsp://a:***@h/x (OpenCV: 'http://h/y?token=***'); giving up"


def test_log_filter_masks_arguments_and_tracebacks() -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("test-redaction")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("cannot open %s", "rtsp://admin:S3cretPass@cam/s")
        try:
            raise OSError("failed: rtsp://admin:S3cretPass@cam/s?token=T0ken")
        except OSError:
            logger.exception("camera gone")
    finally:
        logger.removeHandler(handler)
    logged = out.getvalue()
    assert "S3cretPass" not in logged and "T0ken" not in logged
    assert "cannot open rtsp://admin:***@cam/s\n" in logged
    assert "OSError: failed: rtsp://admin:***@cam/s?token=***" in logged


SECRETS = ("S3cretPass", "Qu3rySecret", "T0kenSecret")


def secret_config_text(port: int) -> str:
    """Two unreachable cameras: a password in the user info, and a password and a token in the query."""
    return (
        f'source = "rtsp://admin:{SECRETS[0]}@127.0.0.1:{port}/stream"\n'
        "reconnect_max_s = 1\nstall_timeout_s = 2\n\n"
        '[[cameras]]\nname = "cam2"\n'
        f'source = "http://127.0.0.1:{port}/video.mjpg?user=admin&password={SECRETS[1]}&token={SECRETS[2]}"\n'
        "reconnect_max_s = 1\n"
    )


@pytest.mark.slow
def test_agent_run_with_secret_urls_leaks_nothing(tmp_path, broker, subscribe, store) -> None:
    sub = subscribe(broker.port, topic="#")
    config = agent_config(tmp_path, broker.port, "placeholder")
    text = config.read_text().replace('source = "placeholder"\n', "")
    config.write_text(text + secret_config_text(free_port()))
    log_path = tmp_path / "agent.log"
    with open(log_path, "w") as log:
        agent = subprocess.Popen([sys.executable, "-m", "agent.cli", "-v", "run", "--config", str(config)],
                                 cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        assert sub.wait_for(lambda s: any(min(c["reconnects"] for c in t["cameras"].values()) >= 2
                                          for t in s.json("/telemetry")), timeout=90), log_path.read_text()
        request = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="test-commander")
        request.connect("127.0.0.1", broker.port)
        request.loop_start()
        status = json.dumps({"action": "status", "request_id": "r1"})
        request.publish("headcount/test-pc/cmd", status, qos=1).wait_for_publish()
        assert sub.wait_for(lambda s: s.payloads("/cmd/result"), timeout=30)
        request.loop_stop()
        request.disconnect()
    finally:
        agent.send_signal(signal.SIGTERM)
    code, output = finish(agent, config)
    assert code == 0, output[-3000:]
    assert "rtsp://admin:***@127.0.0.1" in output and "password=***&token=***" in output
    assert len(sub.messages) > 5
    published = b"\n".join(topic.encode() + b" " + payload for topic, payload in sub.messages)
    for secret in SECRETS:
        assert secret not in output, f"{secret} in the agent's log"
        assert secret.encode() not in published, f"{secret} in an MQTT message"
