"""The speedup the agent itself sees: each variant and its parent counting in the real agent, in turn.

Each round runs the agent (the code of `headcount-agent run`, a real local Mosquitto) on `vtest.avi` once
per model for `--seconds`, the models in turn; a paho client reads the agent's telemetry off the broker
and keeps the `infer` stage's p50 of every interval (the synchronous inference alone, as the agent times
it). Per round: parent p50 / variant p50; printed: the median over rounds.

With `--pace camera` (default) the file plays at its own frame rate, as a camera delivers frames: the
inference waits for the next frame, and decoding runs between inferences. With `--pace flat-out` frames
are read as fast as inference takes them (back to back, as `headcount-agent bench` and benchmark_app
time). Set beside `bench/timing_regimes.py`, it says which timing regime a deployment sees.

    .venv/bin/python bench/agent_speedup.py --parent ssd-mobilenet@1 \
        --variants ssd-mobilenet@cp-2.1x ssd-mobilenet@cp-4.7x [--pace flat-out]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
from agent_overhead import clip_config

from agent.config import MqttConfig
from agent.daemon import Agent
from agent.local_broker import LocalBroker
from agent.topics import TelemetryMessage, Topics
from models.store import parse_ref

DEVICE_ID = "speedup"


class TelemetryReader:
    """The `infer` p50 of every telemetry interval the agent publishes, by model."""

    def __init__(self, port: int) -> None:
        self.p50: dict[str, list[float]] = {}
        self._lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="agent-speedup")
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.subscribe(Topics(MqttConfig().prefix, DEVICE_ID).name("telemetry"))
        self.client.loop_start()

    def _on_message(self, _client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage) -> None:
        telemetry = TelemetryMessage.model_validate_json(message.payload)
        infer = telemetry.stages["infer"]
        if infer.p50_ms is not None and infer.samples >= 10:
            with self._lock:
                self.p50.setdefault(telemetry.model, []).append(infer.p50_ms)

    def take(self, model: str) -> list[float]:
        with self._lock:
            return self.p50.pop(model, [])

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def run_agent(port: int, ref: str, seconds: float, realtime: bool, interval_s: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        agent = Agent(clip_config(port, *parse_ref(ref), "CPU", Path(tmp), realtime, DEVICE_ID, interval_s))
        timer = threading.Timer(seconds, agent.stop.set)
        timer.start()
        try:
            agent.run()
        finally:
            timer.cancel()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parent", default="ssd-mobilenet@1")
    parser.add_argument("--variants", nargs="+", default=["ssd-mobilenet@cp-2.1x", "ssd-mobilenet@cp-4.7x"])
    parser.add_argument("--pace", choices=("camera", "flat-out"), default="camera")
    parser.add_argument("--seconds", type=float, default=22.0, help="agent run per model and round (default 22)")
    parser.add_argument("--interval-s", type=float, default=5.0, help="telemetry interval (default 5)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write every round's p50s here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    refs = [args.parent, *args.variants]
    rounds: list[dict[str, float]] = []
    with LocalBroker() as broker:
        reader = TelemetryReader(broker.port)
        try:
            for index in range(1, args.rounds + 1):
                p50 = {}
                for ref in refs:
                    run_agent(broker.port, ref, args.seconds, args.pace == "camera", args.interval_s)
                    intervals = reader.take(ref)
                    if not intervals:
                        raise RuntimeError(f"{ref}: no telemetry interval with 10 inferences in {args.seconds} s")
                    p50[ref] = statistics.median(intervals)
                rounds.append(p50)
                print(f"round {index}: infer p50 " + ", ".join(f"{ref} {ms:.2f} ms" for ref, ms in p50.items()),
                      file=sys.stderr, flush=True)
        finally:
            reader.close()
    print(f"The agent's own speedup over {args.parent} ({args.pace} pace, `infer` stage p50 of its telemetry, "
          f"median of {args.rounds} rounds of {args.seconds:.0f} s per model)")
    print("| variant | infer p50 ms (median) | speedup (median of per-round ratios) |")
    print("| --- | --- | --- |")
    print(f"| {args.parent} | {statistics.median(r[args.parent] for r in rounds):.2f} | 1.00x |")
    for ref in args.variants:
        speedup = statistics.median(r[args.parent] / r[ref] for r in rounds)
        print(f"| {ref} | {statistics.median(r[ref] for r in rounds):.2f} | {speedup:.2f}x |")
    if args.json:
        args.json.write_text(json.dumps({"parent": args.parent, "pace": args.pace, "seconds": args.seconds,
                                         "rounds": rounds}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
