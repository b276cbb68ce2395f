"""`make demo`: a real broker, the real agent on the sample footage, and what a subscriber sees.

Starts Mosquitto on a free loopback port, runs `headcount-agent run --config examples/demo.toml` as a
separate process (exactly as a service would), subscribes to everything under the prefix, prints
count and telemetry messages as they arrive, then stops the agent with SIGTERM and shows its
`offline` message.

    python -m agent.demo [--config examples/demo.toml] [--seconds 30]
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import signal
import subprocess
import sys
import time

import paho.mqtt.client as paho

from agent.local_broker import LocalBroker


def subscribe(port: int, topic: str) -> tuple[paho.Client, queue.Queue]:
    inbox: queue.Queue = queue.Queue()
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="headcount-demo-subscriber")
    client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
    client.on_message = lambda _c, _u, msg: inbox.put((msg.topic, msg.payload))
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client, inbox


def describe(topic: str, payload: bytes) -> str:
    kind = topic.rsplit("/", 1)[-1]
    try:
        data = json.loads(payload)
    except ValueError:
        return f"{topic}: {payload.decode(errors='replace')}"
    if kind == "count":
        return (f"{topic}: count={data['count']} (frame's own: {data['raw_count']}) in={data['in']} "
                f"out={data['out']} seq={data['seq']} frame={data['frame']} model={data['model']}")
    if kind == "crossing":
        return f"{topic}: {data['direction']} track={data['track']} frame={data['frame']} id={data['id']}"
    if kind == "telemetry":
        infer = data["stages"]["infer"]
        return (f"{topic}: fps={data['fps']} infer p50={infer['p50_ms']} ms p95={infer['p95_ms']} ms "
                f"cpu={data['cpu_percent']}% rss={data['rss_mb']} MB power={data['power_w']} W "
                f"({data['power_source']}) device={data['device']}")
    return f"{topic}: {json.dumps(data)}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="examples/demo.toml")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long to watch before stopping")
    args = parser.parse_args(argv)

    with LocalBroker() as broker:
        print(f"demo: mosquitto on 127.0.0.1:{broker.port}")
        client, inbox = subscribe(broker.port, "headcount/#")
        env = dict(os.environ, HEADCOUNT_MQTT_PORT=str(broker.port))
        agent = subprocess.Popen([sys.executable, "-m", "agent.cli", "run", "--config", args.config], env=env)
        print(f"demo: agent pid {agent.pid}; watching for {args.seconds:.0f} s\n")
        deadline = time.monotonic() + args.seconds
        counts = 0
        while time.monotonic() < deadline and agent.poll() is None:
            try:
                topic, payload = inbox.get(timeout=0.5)
            except queue.Empty:
                continue
            counts += topic.endswith("/count")
            print(describe(topic, payload), flush=True)
        print("\ndemo: stopping the agent (SIGTERM)")
        agent.send_signal(signal.SIGTERM)
        code = agent.wait(timeout=30)
        end = time.monotonic() + 2
        while time.monotonic() < end:
            try:
                topic, payload = inbox.get(timeout=0.2)
                print(describe(topic, payload))
            except queue.Empty:
                pass
        client.loop_stop()
        client.disconnect()
    print(f"demo: agent exited with {code}; subscriber received {counts} count messages")
    return 0 if code == 0 and counts > 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
