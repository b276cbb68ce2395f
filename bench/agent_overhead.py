"""Agent overhead: the whole agent vs OpenVINO's own benchmark_app, same IR, same device, one run.

The agent runs on the sample clip with no frame-rate cap (`realtime = false`: the file is read as fast
as inference takes frames), one camera, a real local broker, exactly the code `headcount-agent run`
uses. benchmark_app runs the same IR on the same device with the sync API and the latency hint (1 stream). Both
alternate `--rounds` times, so load drift on a shared machine hits both alike. Target: ratio >= 0.85.

    .venv/bin/python bench/agent_overhead.py [--rounds 2] [--device CPU]
"""

from __future__ import annotations

import argparse
import logging
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2

from agent.config import AgentConfig, CameraConfig, ModelConfig, MqttConfig, QueueConfig, TelemetryConfig
from agent.daemon import Agent
from agent.local_broker import LocalBroker
from models.store import ModelStore

ROOT = Path(__file__).resolve().parents[1]


def clip_config(port: int, name: str, version: str, device: str, queue_dir: Path, realtime: bool,
                device_id: str = "bench", interval_s: float = 5.0) -> AgentConfig:
    """The agent on the sample clip, one camera `clip`, against a local broker on `port`."""
    return AgentConfig(
        device_id=device_id, mqtt=MqttConfig(host="127.0.0.1", port=port),
        model=ModelConfig(store=ROOT / "models", name=name, version=version, devices=[device]),
        telemetry=TelemetryConfig(interval_s=interval_s), queue=QueueConfig(path=queue_dir / "queue.sqlite"),
        cameras=[CameraConfig(name="clip", source=str(ROOT / "data" / "vtest.avi"), realtime=realtime)],
    )


def agent_fps(port: int, args: argparse.Namespace) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        agent = Agent(clip_config(port, args.name, args.version, args.device, Path(tmp), realtime=False))
        agent.run()
    assert agent.summary is not None
    return agent.summary.steady_fps["clip"] or 0.0, agent.summary.frames_processed["clip"]


def sample_frame(directory: Path, index: int = 100) -> Path:
    """A real frame of the clip, so benchmark_app's post-processing sees real detections, not noise."""
    capture = cv2.VideoCapture(str(ROOT / "data" / "vtest.avi"))
    capture.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, image = capture.read()
    if not ok:
        raise RuntimeError("cannot read data/vtest.avi (run `make video`)")
    path = directory / "frame.png"
    cv2.imwrite(str(path), image)
    return path


def benchmark_app_fps(args: argparse.Namespace) -> float:
    xml = ModelStore(ROOT / "models").load(args.name, args.version).xml
    tool = Path(sys.executable).with_name("benchmark_app")
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            [str(tool), "-m", str(xml), "-d", args.device, "-hint", "latency", "-api", "sync",
             "-i", str(sample_frame(Path(tmp))), "-t", str(args.seconds)], capture_output=True, text=True,
            check=True,
        ).stdout
    match = re.search(r"Throughput:\s+([\d.]+) FPS", out)
    if not match:
        raise RuntimeError(f"benchmark_app printed no throughput:\n{out[-2000:]}")
    return float(match.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--device", default="CPU")
    parser.add_argument("--name", default="person-ssdlite")
    parser.add_argument("--version", default="1")
    parser.add_argument("--seconds", type=int, default=10, help="benchmark_app duration per round")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    agent_runs, app_runs = [], []
    with LocalBroker() as broker:
        for i in range(args.rounds):
            fps, frames = agent_fps(broker.port, args)
            agent_runs.append(fps)
            app_runs.append(benchmark_app_fps(args))
            print(f"round {i + 1}: agent {fps:.1f} fps ({frames} frames), benchmark_app {app_runs[-1]:.1f} fps, "
                  f"ratio {fps / app_runs[-1]:.2f}", flush=True)
    agent, app = statistics.median(agent_runs), statistics.median(app_runs)
    paired = statistics.median(a / b for a, b in zip(agent_runs, app_runs, strict=True))
    print(f"\n{args.name}@{args.version} on {args.device}: agent {agent:.1f} fps, benchmark_app {app:.1f} fps, "
          f"ratio of medians {agent / app:.2f}, median of per-round ratios {paired:.2f} (target >= 0.85)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
