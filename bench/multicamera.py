"""Many cameras on one PC: the agent's aggregate frame rate against OpenVINO's benchmark_app, same IR, same run.

The agent runs N copies of data/vtest.avi (1, 2, 4, 8 by default; add 16 with `--cameras 1 2 4 8 16`),
each read as fast as inference takes frames (`realtime = false`, looping), with a real local broker and
the code `headcount-agent run` uses, in a child process per measurement so that its peak RSS is its own.
benchmark_app runs the same IR with `-hint throughput` (the device's capacity) and `-hint latency -api
sync` (one camera's ceiling). Every round runs all of them in turn (the order reversed every other
round), so the load of a shared machine hits each alike; ratios are medians of per-round ratios.
`--replay` adds, in the same rounds, runs whose cameras hand out frames decoded before the window from
memory (`ReplayCapture`): the agent without the decoding that benchmark_app never does, so that the gap
to benchmark_app splits into what decoding costs and what the agent's own work costs.

Per agent run it reports aggregate and per-camera fps over a steady window (after every camera's first
frames), CPU % (100 = one core), peak RSS (VmHWM, compile included) and the RSS at the window's end with
its anonymous part (RssAnon: heap, compiled model, frames; what the kernel cannot reclaim) beside the
file-backed pages (RssFile: mapped library code, shared with other processes and reclaimable), the
hint and number of infer requests the agent chose, per-stage medians (ms), and the CPU each kind of
thread spent per processed frame (inference and other native threads, camera workers, captures, readers;
from psutil). The load average is printed before and after.

    .venv/bin/python bench/multicamera.py [--cameras 1 2 4 8] [--rounds 3] [--seconds 8] [--replay]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psutil
from agent_overhead import sample_frame

from agent.capture import Opener, open_capture
from agent.config import AgentConfig, CameraConfig, ModelConfig, MqttConfig, QueueConfig, TelemetryConfig
from agent.daemon import Agent
from agent.local_broker import LocalBroker
from agent.timing import reported, reported_int
from models.store import ModelStore

ROOT = Path(__file__).resolve().parents[1]
VIDEO = ROOT / "data" / "vtest.avi"
THROUGHPUT = re.compile(r"Throughput:\s+([\d.]+) FPS")
REPLAY_FRAMES = 50
"""Frames of the sample decoded once for `--replay` (about 66 MB, shared by every camera)."""


class ReplayCapture:
    """A capture that hands out frames decoded beforehand, by reference, then ends (the reader reopens it)."""

    def __init__(self, frames: list[np.ndarray]) -> None:
        self._frames = frames
        self._next = 0

    def isOpened(self) -> bool:  # noqa: N802 - cv2.VideoCapture's name
        return True

    def read(self) -> tuple[bool, np.ndarray | None]:
        if self._next >= len(self._frames):
            return False, None
        self._next += 1
        return True, self._frames[self._next - 1]

    def get(self, prop: int) -> float:
        return 0.0

    def release(self) -> None:
        pass


def replay_opener(count: int = REPLAY_FRAMES) -> Opener:
    """An opener whose captures replay the sample's first `count` frames, decoded here once."""
    capture = open_capture(str(VIDEO), 10.0)
    frames = [image for ok, image in (capture.read() for _ in range(count)) if ok]
    capture.release()
    return lambda source, timeout_s: ReplayCapture(frames)


def proc_status_mb(key: str) -> float:
    """A memory line of /proc/self/status (VmRSS, VmHWM, RssAnon, RssFile) in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(key)


def cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


THREAD_KINDS = (("worker-", "camera workers (resize, submit, decode outputs, count, publish)"),
                ("camera-", "camera readers (hand-over)"), ("capture ", "captures (video decoding)"))


def thread_cpu_seconds() -> dict[str, float]:
    """CPU seconds so far per kind of thread: the agent's by their name, the rest (OpenVINO's, the
    runtime's) as `native`."""
    names = {t.native_id: t.name for t in threading.enumerate()}
    kinds: dict[str, float] = {}
    for thread in psutil.Process().threads():
        name = names.get(thread.id)
        kind = "native" if name is None else next((label for prefix, label in THREAD_KINDS
                                                    if name.startswith(prefix)), "other Python threads")
        kinds[kind] = kinds.get(kind, 0.0) + thread.user_time + thread.system_time
    return kinds


def agent_config(args: argparse.Namespace, tmp: Path) -> AgentConfig:
    cameras = [CameraConfig(name=f"cam{i + 1}", source=str(VIDEO), realtime=False, loop=True)
               for i in range(args.child)]
    model = ModelConfig(store=ROOT / "models", name=args.name, version=args.version, devices=[args.device],
                        performance_hint=args.hint, cache_dir=Path(args.cache_dir) if args.cache_dir else None)
    return AgentConfig(device_id="bench", mqtt=MqttConfig(host="127.0.0.1", port=args.port), model=model,
                       telemetry=TelemetryConfig(interval_s=3600), queue=QueueConfig(path=tmp / "queue.sqlite"),
                       cameras=cameras)


def wait_for_frames(agent: Agent, cameras: int, frames: int, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if len(agent.workers) == cameras and all(w.frames_processed >= frames for w in agent.workers):
            return
        time.sleep(0.05)
    raise RuntimeError(f"the agent's {cameras} cameras did not all process {frames} frames in {timeout_s} s")


def swap_peaks(agent: Agent, args: argparse.Namespace, timeout_s: float = 300) -> dict[str, float]:
    """Swap to the same model through the command path (nice-19 compile child, then a second compiled
    model beside the first); the agent's and the compile child's peak RSS in MB."""
    assert agent.controller is not None and agent.active is not None
    before = weakref.ref(agent.active.current)  # a strong reference would keep the old model in memory
    agent.controller.submit(json.dumps({"request_id": "bench-swap", "action": "swap_model", "model": args.name,
                                        "version": args.version}).encode())
    deadline = time.monotonic() + timeout_s
    while agent.active.current is before():
        if time.monotonic() > deadline:
            raise RuntimeError(f"the swap did not happen in {timeout_s} s")
        time.sleep(0.05)
    time.sleep(1.0)  # every camera moves to the new model; the old one is released
    return {"swap_peak_rss_mb": proc_status_mb("VmHWM"), "swap_rss_mb": proc_status_mb("VmRSS"),
            "swap_child_peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}


def child(args: argparse.Namespace) -> dict:
    """One agent run with `args.child` cameras: its figures over a steady window of `args.seconds`."""
    with tempfile.TemporaryDirectory() as tmp:
        opener = replay_opener() if args.replay else open_capture
        agent = Agent(agent_config(args, Path(tmp)), opener=opener)
        runner = threading.Thread(target=agent.run, name="agent")
        runner.start()
        try:
            wait_for_frames(agent, args.child, frames=5)
            agent.telemetry.stages.drain()  # start-up out of the stage figures
            frames0, cpu0, t0 = [w.frames_processed for w in agent.workers], cpu_seconds(), time.monotonic()
            threads0 = thread_cpu_seconds()
            time.sleep(args.seconds)
            frames1, cpu1, t1 = [w.frames_processed for w in agent.workers], cpu_seconds(), time.monotonic()
            threads1 = thread_cpu_seconds()
            stages = agent.telemetry.stages.drain()
            rss, peak = proc_status_mb("VmRSS"), proc_status_mb("VmHWM")
            anon, mapped = proc_status_mb("RssAnon"), proc_status_mb("RssFile")
            swap = swap_peaks(agent, args) if args.swap else {}
        finally:
            agent.stop.set()
            runner.join()
    assert agent.active is not None
    compiled = agent.active.detector.compiled
    elapsed = t1 - t0
    fps = [(b - a) / elapsed for a, b in zip(frames0, frames1, strict=True)]
    frames = max(sum(frames1) - sum(frames0), 1)
    cpu_per_frame = {kind: 1000 * (seconds - threads0.get(kind, 0.0)) / frames for kind, seconds in threads1.items()}
    return {
        "cameras": args.child, "replayed": args.replay, "aggregate_fps": sum(fps), "camera_fps": fps,
        "cpu_percent": 100 * (cpu1 - cpu0) / elapsed, "peak_rss_mb": peak, "rss_mb": rss,
        "rss_anon_mb": anon, "rss_file_mb": mapped, **swap,
        "hint": reported(compiled, "PERFORMANCE_HINT"), "streams": reported_int(compiled, "NUM_STREAMS"),
        "requests": getattr(getattr(agent.active.detector, "pool", None), "size", None),
        "stages_ms": {name: s.p50_ms for name, s in stages.items() if s.samples},
        "cpu_ms_per_frame": cpu_per_frame,
    }


def run_agent(args: argparse.Namespace, cameras: int, port: int, cache_dir: Path, replay: bool = False) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(cameras), "--port", str(port),
           "--seconds", str(args.seconds), "--device", args.device, "--name", args.name, "--version", args.version,
           "--cache-dir", str(cache_dir), *(["--hint", args.hint] if args.hint else []),
           *(["--swap"] if args.swap else []), *(["--replay"] if replay else [])]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        raise RuntimeError(f"agent run with {cameras} cameras failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def benchmark_app_fps(args: argparse.Namespace, xml: Path, frame: Path, hint: list[str]) -> float:
    tool = Path(sys.executable).with_name("benchmark_app")
    out = subprocess.run([str(tool), "-m", str(xml), "-d", args.device, *hint, "-i", str(frame),
                          "-t", str(args.seconds)], capture_output=True, text=True, check=True).stdout
    match = THROUGHPUT.search(out)
    if not match:
        raise RuntimeError(f"benchmark_app printed no throughput:\n{out[-2000:]}")
    return float(match.group(1))


APP_HINTS = {"app-throughput": ["-hint", "throughput"], "app-latency": ["-hint", "latency", "-api", "sync"]}


AgentKey = tuple[int, bool]
"""An agent run's kind: its number of cameras, and whether their frames were replayed from memory."""


@dataclass
class Rounds:
    """Every round's figures: benchmark_app's fps per hint, the agent's runs per kind."""

    app: dict[str, list[float]]
    agent: dict[AgentKey, list[dict]]

    def ratios(self, key: AgentKey) -> list[float]:
        """Per round: the agent's aggregate fps over benchmark_app's (latency for 1 camera, else throughput)."""
        base = self.app["app-latency" if key[0] == 1 else "app-throughput"]
        return [run["aggregate_fps"] / fps for run, fps in zip(self.agent[key], base, strict=True)]


def measure(args: argparse.Namespace) -> Rounds:
    xml = ModelStore(ROOT / "models").load(args.name, args.version).xml
    kinds: list[AgentKey] = [(n, False) for n in args.cameras] + [(n, True) for n in args.cameras if args.replay]
    items: list[str | AgentKey] = ["app-latency", *kinds, "app-throughput"]
    rounds = Rounds({key: [] for key in APP_HINTS}, {key: [] for key in kinds})
    with tempfile.TemporaryDirectory() as tmp, LocalBroker() as broker:
        frame = sample_frame(Path(tmp))
        for r in range(args.rounds):
            for item in items if r % 2 == 0 else items[::-1]:
                if isinstance(item, str):
                    rounds.app[item].append(benchmark_app_fps(args, xml, frame, APP_HINTS[item]))
                    print(f"round {r + 1}: {item} {rounds.app[item][-1]:.1f} fps", flush=True)
                else:
                    run = run_agent(args, item[0], broker.port, Path(tmp) / "ov-cache", replay=item[1])
                    rounds.agent[item].append(run)
                    print(f"round {r + 1}: agent x{item[0]}{' replayed' if item[1] else ''} {json.dumps(run)}",
                          flush=True)
    return rounds


def summary(rounds: Rounds) -> list[str]:
    """The markdown table: medians over rounds, ratios as medians of per-round ratios."""
    lines = ["| cameras | hint, requests | aggregate fps | per camera fps (min-max) | vs benchmark_app | CPU % "
             "| peak RSS MB | RSS MB (anon + file) |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for key, runs in rounds.agent.items():
        n, replayed = key
        med = {k: statistics.median(r[k] for r in runs)
               for k in ("aggregate_fps", "cpu_percent", "peak_rss_mb", "rss_mb", "rss_anon_mb", "rss_file_mb")}
        per_camera = [fps for r in runs for fps in r["camera_fps"]]
        base = "latency sync" if n == 1 else "throughput"
        label = f"{n}, frames from memory" if replayed else str(n)
        lines.append(f"| {label} | {runs[0]['hint']}, {runs[0]['requests']} | {med['aggregate_fps']:.1f} | "
                     f"{statistics.median(per_camera):.1f} ({min(per_camera):.1f}-{max(per_camera):.1f}) | "
                     f"{statistics.median(rounds.ratios(key)):.2f} x {base} | {med['cpu_percent']:.0f} | "
                     f"{med['peak_rss_mb']:.0f} | {med['rss_mb']:.0f} ({med['rss_anon_mb']:.0f} + "
                     f"{med['rss_file_mb']:.0f}) |")
    app = {k: statistics.median(v) for k, v in rounds.app.items()}
    lines.append(f"\nbenchmark_app medians: -hint throughput {app['app-throughput']:.1f} fps, "
                 f"-hint latency -api sync {app['app-latency']:.1f} fps")
    if any(replayed for _, replayed in rounds.agent):
        lines.append("Frames from memory: decoded once before the window (RSS includes them, about 66 MB).")
    return lines


def memory_formula(rounds: Rounds, cameras: list[int], key: str = "peak_rss_mb", what: str = "peak RSS") -> str:
    """Least-squares line through the median of `key` per camera count: "A MB + B MB per camera"."""
    values = [statistics.median(r[key] for r in rounds.agent[(n, False)]) for n in cameras]
    if len(cameras) < 2:
        return f"{what} {values[0]:.0f} MB with {cameras[0]} camera(s)"
    slope, intercept = np.polyfit(cameras, values, 1)
    return f"{what} ~= {intercept:.0f} MB + {slope:.1f} MB per camera (fit over {cameras} cameras)"


def stage_lines(rounds: Rounds, cameras: list[int]) -> list[str]:
    lines = []
    for n in cameras:
        stages: dict[str, list[float]] = {}
        for run in rounds.agent[(n, False)]:
            for name, ms in run["stages_ms"].items():
                stages.setdefault(name, []).append(ms)
        lines.append(f"stages x{n} (p50 ms, median over rounds): "
                     + ", ".join(f"{k} {statistics.median(v):.2f}" for k, v in stages.items()))
    return lines


def cpu_lines(rounds: Rounds) -> list[str]:
    """CPU per processed frame by kind of thread (medians over rounds): where the two cores go."""
    lines = []
    for (n, replayed), runs in rounds.agent.items():
        kinds = {kind for run in runs for kind in run["cpu_ms_per_frame"]}
        medians = {kind: statistics.median(run["cpu_ms_per_frame"].get(kind, 0.0) for run in runs) for kind in kinds}
        label = f"x{n}{' replayed' if replayed else ''}"
        lines.append(f"CPU ms per frame {label}: total {sum(medians.values()):.2f}; "
                     + ", ".join(f"{kind} {ms:.2f}" for kind, ms in sorted(medians.items(), key=lambda kv: -kv[1])))
    return lines


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cameras", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=8, help="measuring window per run (and benchmark_app -t)")
    parser.add_argument("--device", default="CPU")
    parser.add_argument("--name", default="person-ssdlite")
    parser.add_argument("--version", default="1")
    parser.add_argument("--hint", choices=["LATENCY", "THROUGHPUT"], help="force the agent's hint (default: chosen)")
    parser.add_argument("--swap", action="store_true",
                        help="after each window, swap the model once and report the agent's and the compile "
                        "child's peak RSS (sizes MemoryMax)")
    parser.add_argument("--replay", action="store_true",
                        help="also run the agent, in the same rounds, on frames decoded before the window and "
                        "handed out from memory (what the gap is without decoding)")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--cache-dir", help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.child:
        print(json.dumps(child(args)), flush=True)
        return 0
    if not VIDEO.is_file():
        raise SystemExit(f"{VIDEO} is missing (run `make video`)")
    before = os.getloadavg()
    print(f"{args.name}@{args.version} on {args.device}, {os.cpu_count()} CPUs, load average {before}", flush=True)
    rounds = measure(args)
    print("\n" + "\n".join(summary(rounds)))
    print(memory_formula(rounds, args.cameras))
    print(memory_formula(rounds, args.cameras, "rss_anon_mb", "anonymous RSS at the window's end"))
    print("\n".join(stage_lines(rounds, args.cameras)))
    print("\n".join(cpu_lines(rounds)))
    print(f"load average before {before}, after {os.getloadavg()} ({os.cpu_count()} CPUs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
