"""Where the resize should run: inside the compiled model, or OpenCV before it. Same IR, same run.

Four ways to feed one model the sample's 768x576 frames, each timed with OpenVINO's async queue (the
device's optimal number of requests plus one, kept busy) for `--seconds`, all in turn for `--rounds`
rounds (order reversed every other round); medians of frames per second:

- `in-model, any size`: the agent's accelerator path; the PrePostProcessor resizes inside the graph and
  the input has a dynamic spatial shape.
- `in-model, static`: the same with the input fixed at the frame's size.
- `opencv + static`: the agent's CPU path; `cv2.resize` (timed and included) into a model whose input
  is static at the network's size; colour, type and mean/scale still in the graph.
- `bare IR`: the IR as benchmark_app runs it (its own input, no preprocessing), for reference.

    .venv/bin/python bench/resize_placement.py [--model ssd-squeezenet@384x288-int8] [--hint THROUGHPUT]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import openvino as ov

from agent.detector import build_preprocessing
from agent.inference_pool import optimal_requests
from agent.timing import reported
from models.manifest import InputSpec
from models.store import ModelStore, parse_ref

ROOT = Path(__file__).resolve().parents[1]
VIDEO = ROOT / "data" / "vtest.avi"

Feed = Callable[[np.ndarray], np.ndarray]


def static_frame_model(core: ov.Core, xml: Path, spec: InputSpec, height: int, width: int) -> ov.Model:
    """`build_preprocessing`'s in-graph resize, with the input fixed at the frames' size."""
    model = build_preprocessing(core.read_model(xml), spec, resize=True)
    model.reshape([1, height, width, 3])
    return model


def frames_per_second(compiled: ov.CompiledModel, frames: list[np.ndarray], feed: Feed, seconds: float) -> float:
    queue = ov.AsyncInferQueue(compiled, optimal_requests(compiled) + 1)
    done = [0]
    queue.set_callback(lambda request, userdata: done.__setitem__(0, done[0] + 1))
    started, i = time.perf_counter(), 0
    while time.perf_counter() - started < seconds:
        queue.start_async({0: feed(frames[i % len(frames)])})  # blocks while every request is busy
        i += 1
    queue.wait_all()
    return done[0] / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="ssd-squeezenet@384x288-int8")
    parser.add_argument("--hint", choices=["LATENCY", "THROUGHPUT"], default="THROUGHPUT")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()

    stored = ModelStore(ROOT / "models").load(*parse_ref(args.model))
    spec, core = stored.manifest.input, ov.Core()
    capture = cv2.VideoCapture(str(VIDEO))
    frames = [capture.read()[1] for _ in range(20)]
    height, width = frames[0].shape[:2]
    size = (spec.width, spec.height)
    config = {"PERFORMANCE_HINT": args.hint}

    def compile_(model: ov.Model) -> ov.CompiledModel:
        return core.compile_model(model, "CPU", config)

    bare = compile_(core.read_model(stored.xml))
    noise = np.random.default_rng(0).random(tuple(bare.inputs[0].shape), np.float32)
    ways: dict[str, tuple[ov.CompiledModel, Feed]] = {
        "in-model, any size": (compile_(build_preprocessing(core.read_model(stored.xml), spec, resize=True)),
                               lambda f: f[None]),
        "in-model, static": (compile_(static_frame_model(core, stored.xml, spec, height, width)),
                             lambda f: f[None]),
        "opencv + static": (compile_(build_preprocessing(core.read_model(stored.xml), spec, resize=False)),
                            lambda f: cv2.resize(f, size, interpolation=cv2.INTER_LINEAR)[None]),
        "bare IR": (bare, lambda f: noise),
    }
    print(f"{args.model}, {args.hint}, {reported(bare, 'INFERENCE_PRECISION_HINT')} on "
          f"{core.get_property('CPU', 'FULL_DEVICE_NAME')}, frames {width}x{height} -> {size[0]}x{size[1]}")
    fps: dict[str, list[float]] = {name: [] for name in ways}
    for round_ in range(args.rounds):
        order = list(ways) if round_ % 2 == 0 else list(reversed(ways))
        for name in order:
            compiled, feed = ways[name]
            fps[name].append(frames_per_second(compiled, frames, feed, args.seconds))
        print(f"round {round_ + 1}: " + ", ".join(f"{name} {fps[name][-1]:.0f}" for name in ways))
    resize_started = time.perf_counter()
    for frame in frames * 10:
        cv2.resize(frame, size, interpolation=cv2.INTER_LINEAR)
    resize_ms = (time.perf_counter() - resize_started) / (len(frames) * 10) * 1e3
    base = statistics.median(fps["in-model, any size"])
    print("\n| feed | frames/s (median) | per round | vs in-model, any size |\n| --- | --- | --- | --- |")
    for name, values in fps.items():
        median = statistics.median(values)
        print(f"| {name} | {median:.0f} | {', '.join(f'{v:.0f}' for v in values)} | {median / base:.2f}x |")
    print(f"\ncv2.resize {width}x{height} -> {size[0]}x{size[1]}: {resize_ms:.3f} ms per frame (one thread)")


if __name__ == "__main__":
    main()
