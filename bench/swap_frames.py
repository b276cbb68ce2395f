"""Frames around model swaps: does a swap cost a single frame?

Runs the real agent (in-process, the same code as `headcount-agent run`) on vtest.avi played at its
native 10 fps, with a real local broker, and swaps the model back and forth `--swaps` times through
the command topic. Prints per swap the ack's compile and warm-up times and the frame it switched at,
and in the end frames read, inferred and dropped for the camera.

    .venv/bin/python bench/swap_frames.py [--swaps 6]
"""

from __future__ import annotations

import argparse
import json
import logging
import queue
import shutil
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as paho

from agent.config import AgentConfig, CameraConfig, ModelConfig, MqttConfig, QueueConfig, TelemetryConfig
from agent.daemon import Agent
from agent.local_broker import LocalBroker
from models.manifest import Manifest
from models.store import MANIFEST, ModelStore, parse_ref, write_manifest

ROOT = Path(__file__).resolve().parents[1]


def two_versions(root: Path, name: str, version: str) -> None:
    """The model as version 1 and an identical copy as version 2, under its name."""
    source = ModelStore(ROOT / "models").directory(name, version)
    for version in ("1", "2"):
        target = root / name / version
        shutil.copytree(source, target)
        manifest = Manifest.model_validate_json((target / MANIFEST).read_text())
        write_manifest(target, manifest.model_copy(update={"version": version}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--swaps", type=int, default=6)
    parser.add_argument("--gap-s", type=float, default=3.0, help="counting time between swaps")
    parser.add_argument("--cameras", type=int, default=1, help="copies of the clip, each a camera at 10 fps")
    parser.add_argument("--model", default="person-ssdlite@1", help="store model NAME@VERSION swapped with its copy")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with LocalBroker() as broker, tempfile.TemporaryDirectory() as tmp:
        name, version = parse_ref(args.model)
        two_versions(Path(tmp) / "store", name, version)
        config = AgentConfig(
            device_id="bench", mqtt=MqttConfig(host="127.0.0.1", port=broker.port),
            model=ModelConfig(store=Path(tmp) / "store", name=name, version="1", devices=["CPU"]),
            telemetry=TelemetryConfig(interval_s=1),
            queue=QueueConfig(path=Path(tmp) / "queue.sqlite"),
            cameras=[CameraConfig(name=f"clip{i}" if args.cameras > 1 else "clip",
                                  source=str(ROOT / "data" / "vtest.avi"), loop=True) for i in range(args.cameras)],
        )
        stop = threading.Event()
        agent = Agent(config, stop=stop)
        runner = threading.Thread(target=agent.run)
        runner.start()
        results: queue.Queue[dict] = queue.Queue()
        client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="bench-operator")
        client.on_message = lambda _c, _u, m: results.put(json.loads(m.payload))
        client.connect("127.0.0.1", broker.port)
        client.subscribe("headcount/bench/cmd/result", qos=1)
        client.loop_start()
        time.sleep(args.gap_s + 5)
        def dropped_now() -> int:
            return sum(w.reader.slot.dropped for w in agent.workers)

        read_before = sum(w.reader.frames_read for w in agent.workers)
        dropped_before = dropped_now()
        print(f"{args.cameras} camera(s); before the swaps: {read_before} frames read, {dropped_before} dropped",
              flush=True)
        for i in range(args.swaps):
            version = "2" if i % 2 == 0 else "1"
            command = {"request_id": f"s{i}", "action": "swap_model", "model": name, "version": version}
            client.publish("headcount/bench/cmd", json.dumps(command), qos=1)
            dropped = dropped_now()
            ack = results.get(timeout=60)
            time.sleep(args.gap_s)
            print(f"swap {i + 1} -> @{version}: ok={ack['ok']} compile {ack['compile_ms']:.0f} ms, "
                  f"warm-up {ack['warmup_ms']:.0f} ms, switched at frames {ack['switch_frames']}, "
                  f"frames dropped during it (all cameras): {dropped_now() - dropped}", flush=True)
        counters = [w.counters() for w in agent.workers]
        stop.set()
        runner.join()
        client.loop_stop()
    read = sum(c.frames_read for c in counters) - read_before
    print(f"\nduring the swaps: {read} frames read at the clip's native 10 fps (all cameras); since start: "
          f"{sum(c.frames_read for c in counters)} read, {sum(c.frames_processed for c in counters)} inferred, "
          f"{sum(c.frames_dropped for c in counters)} dropped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
