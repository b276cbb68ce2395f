"""Test helpers: a recording MQTT subscriber, generated clips, configs and processes for the real agent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

import cv2
import numpy as np
import paho.mqtt.client as paho

ROOT = Path(__file__).resolve().parents[1]
STORE = ROOT / "models"
SAMPLE_VIDEO = ROOT / "data" / "vtest.avi"


class Recording:
    """Something that records what arrives under `self._cond` and lets a test wait for a condition on it."""

    _cond: threading.Condition

    def wait_for(self, predicate: Callable[[Self], bool], timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 0.2))
        return True


@dataclass
class Subscriber(Recording):
    """A real MQTT client that records every message it receives."""

    port: int
    topic: str
    client_id: str = "test-subscriber"
    clean: bool = True
    messages: list[tuple[str, bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._cond = threading.Condition()
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=self.client_id,
                                  clean_session=self.clean, protocol=paho.MQTTv311)
        self.client.on_connect = lambda c, *_: c.subscribe(self.topic, qos=1)
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(0.2, 1)
        self.client.connect("127.0.0.1", self.port)
        self.client.loop_start()

    def _on_message(self, _c: object, _u: object, msg: paho.MQTTMessage) -> None:
        with self._cond:
            self.messages.append((msg.topic, msg.payload))
            self._cond.notify_all()

    def payloads(self, suffix: str) -> list[bytes]:
        with self._cond:
            return [p for t, p in self.messages if t.endswith(suffix)]

    def json(self, suffix: str) -> list[dict]:
        return [json.loads(p) for p in self.payloads(suffix)]

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def write_clip(path: Path, frames: int = 30, size: tuple[int, int] = (160, 120), fps: float = 10.0,
               boxes: Callable[[int], list[tuple[int, int, int, int]]] | None = None) -> Path:
    """A small MJPG clip of white rectangles moving on grey (for stream tests, not for detection)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    for i in range(frames):
        image = np.full((size[1], size[0], 3), 90, np.uint8)
        for x1, y1, x2, y2 in (boxes(i) if boxes else [(i % size[0], 10, i % size[0] + 20, 50)]):
            cv2.rectangle(image, (x1, y1), (x2, y2), (255, 255, 255), -1)
        cv2.putText(image, str(i), (5, size[1] - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
        writer.write(image)
    writer.release()
    return path


def agent_config(tmp_path: Path, port: int, source: Path | str, **overrides: object) -> Path:
    """Write a config for a subprocess agent; `overrides` replace camera keys (`loop`, `realtime`, ...)."""
    camera = {"name": "cam1", "source": str(source), "loop": False, "realtime": False}
    camera.update({k: v for k, v in overrides.items() if k in {"loop", "realtime", "line", "name"}})
    model = {"store": str(overrides.get("store", STORE)), "name": overrides.get("model", "person-ssdlite"),
             "version": overrides.get("version", "1"), "devices": overrides.get("devices", ["CPU"])}

    def toml_value(v: object) -> str:
        return json.dumps(v) if not isinstance(v, bool) else str(v).lower()

    lines = [f'device_id = "{overrides.get("device_id", "test-pc")}"',
             f"stall_exit_s = {overrides.get('stall_exit_s', 60)}", "",
             "[mqtt]", 'host = "127.0.0.1"', f"port = {port}", "reconnect_max_s = 1", "",
             "[model]", *(f"{k} = {toml_value(v)}" for k, v in model.items()), "",
             "[telemetry]", f"interval_s = {overrides.get('interval_s', 1)}", "",
             "[[cameras]]", *(f"{k} = {toml_value(v)}" for k, v in camera.items() if k != "line")]
    path = tmp_path / "agent.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def start_agent(config: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """The real agent, as a service manager would run it; its log goes to `agent.log` beside the config."""
    log = open(config.parent / "agent.log", "a")  # a file, not a pipe: a full pipe would block the agent
    return subprocess.Popen(
        [sys.executable, "-m", "agent.cli", "run", "--config", str(config)],
        cwd=ROOT, env={**os.environ, **(env or {})}, stdout=log, stderr=subprocess.STDOUT, text=True,
    )


def finish(agent: subprocess.Popen, config: Path, timeout: float = 60) -> tuple[int, str]:
    """Wait for the agent to exit; returns its status and its log. Kills it and fails after `timeout`."""
    try:
        agent.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        agent.kill()
        agent.wait()
        raise AssertionError(f"agent did not exit in time; log:\n{agent_log(config)[-3000:]}") from None
    return agent.returncode, agent_log(config)


def agent_log(config: Path) -> str:
    path = config.parent / "agent.log"
    return path.read_text() if path.exists() else ""
