"""Timing one model variant on one device: compile, first inference, latency, throughput, load, power.

Latency is what OpenVINO's benchmark_app reports for one stream: synchronous batch-1 `infer()` on a
prepared input (the frame resized to the network's input), here the compiled model the agent runs
on that device (preprocessing folded in). Throughput uses the device's THROUGHPUT hint and its
optimal number of asynchronous requests, kept busy for a fixed time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import cv2
import numpy as np
import openvino as ov

from agent.bench.resources import ResourceMonitor
from agent.detector import Detector
from agent.power import EnergyReading, PowerMeter
from agent.timing import BURST, reported, reported_int, time_inferences, time_interleaved, time_paced
from models.bench import BenchResult, LatencyStats, ThroughputStats
from models.store import StoredModel


@dataclass(frozen=True)
class BenchSettings:
    iterations: int = 300
    warmup: int = 10
    throughput_s: float = 10.0
    pipeline_runs: int = 30
    score_threshold: float = 0.5
    paced_runs: int = 30
    """Inferences at a camera's pace (`agent.timing.time_paced`); 0: none."""
    pace_fps: float = 10.0
    turn_runs: int = BURST
    """Timed inferences of a model in each of its turns (`time_in_turns`)."""


def percentiles(seconds: list[float]) -> LatencyStats:
    ms = np.asarray(seconds, np.float64) * 1e3
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    return LatencyStats(iterations=len(ms), p50_ms=round(float(p50), 4), p95_ms=round(float(p95), 4),
                        p99_ms=round(float(p99), 4), mean_ms=round(float(ms.mean()), 4),
                        min_ms=round(float(ms.min()), 4))


def input_tensor(detector: Detector, frame: np.ndarray) -> ov.Tensor:
    """The frame as the compiled model takes it: resized BGR u8, batch of one."""
    resized = cv2.resize(frame, detector.input_size, interpolation=cv2.INTER_LINEAR)
    return ov.Tensor(np.ascontiguousarray(resized)[None])


def time_latency(request: ov.InferRequest, tensor: ov.Tensor, settings: BenchSettings) -> list[float]:
    request.set_input_tensor(tensor)
    return time_inferences(request, settings.iterations, settings.warmup)


def time_throughput(core: ov.Core, stored: StoredModel, device: str, tensor: ov.Tensor, seconds: float
                    ) -> ThroughputStats:
    """Frames per second with the THROUGHPUT hint, all optimal requests busy for `seconds`."""
    compiled = Detector.open(stored, device, core, {"PERFORMANCE_HINT": "THROUGHPUT"}).compiled
    requests = int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
    queue = ov.AsyncInferQueue(compiled, requests)
    for _ in range(requests):  # warm every request once
        queue.start_async({0: tensor})
    queue.wait_all()
    frames, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        queue.start_async({0: tensor})  # blocks while all requests are busy
        frames += 1
    queue.wait_all()
    elapsed = time.perf_counter() - started
    return ThroughputStats(fps=round(frames / elapsed, 2), requests=requests,
                           streams=reported_int(compiled, "NUM_STREAMS"),
                           frames=frames, seconds=round(elapsed, 3))


def latency_detector(core: ov.Core, stored: StoredModel, device: str, frame: np.ndarray
                     ) -> tuple[Detector, ov.InferRequest, ov.Tensor]:
    """The agent's detector compiled with the LATENCY hint, an infer request and the prepared frame."""
    detector = Detector.open(stored, device, core, {"PERFORMANCE_HINT": "LATENCY"})
    return detector, detector.compiled.create_infer_request(), input_tensor(detector, frame)


def time_in_turns(core: ov.Core, pairs: list[tuple[StoredModel, str]], frame: np.ndarray,
                  settings: BenchSettings) -> list[list[float]]:
    """Latency samples of every (model, device) pair, the models of each device taking turns.

    Each device's models are compiled together and timed by `agent.timing.time_interleaved` (a turn is
    `BURST_WARMUP` untimed inferences, then up to `settings.turn_runs` timed ones), so all of them meet the
    same load and the ratios between them hold on a machine whose speed drifts while the run goes on.
    Shorter turns follow faster drift (docs/measuring.md)."""
    samples: list[list[float]] = [[] for _ in pairs]
    for device in dict.fromkeys(device for _, device in pairs):
        indices = [i for i, (_, d) in enumerate(pairs) if d == device]
        detectors, requests = [], []  # the detectors stay referenced while their requests run
        for i in indices:
            detector, request, tensor = latency_detector(core, pairs[i][0], device, frame)
            request.set_input_tensor(tensor)
            detectors.append(detector)
            requests.append(request)
        timed = time_interleaved(requests, settings.iterations, settings.warmup, burst=settings.turn_runs)
        for i, seconds in zip(indices, timed, strict=True):
            samples[i] = seconds
    return samples


def bench_pair(core: ov.Core, stored: StoredModel, device: str, frame: np.ndarray, meter: PowerMeter,
               settings: BenchSettings, in_turns: list[float] | None = None) -> tuple[BenchResult, Detector]:
    """Measure one (model, device) pair; also returns the latency-compiled detector (for accuracy).

    `in_turns`: latency samples already timed in turns with other models (`time_in_turns`); the pair's
    own latency run and its energy are then skipped (energy cannot be told apart per model in turns)."""
    with ResourceMonitor() as monitor:
        detector, request, tensor = latency_detector(core, stored, device, frame)
        started = time.perf_counter()
        request.infer({0: tensor})
        first_ms = (time.perf_counter() - started) * 1e3
        mark = meter.mark()
        samples = in_turns if in_turns is not None else time_latency(request, tensor, settings)
        energy = meter.since(mark) if in_turns is None else EnergyReading(None, None, 0.0)
        paced = time_paced(request, settings.paced_runs, 1 / settings.pace_fps)
        session = detector.session()
        pipeline = [session.run(frame, settings.score_threshold)[1] for _ in range(settings.pipeline_runs)]
        throughput = time_throughput(core, stored, device, tensor, settings.throughput_s)
    per_inference = energy.joules / len(samples) if energy.joules is not None else None
    result = BenchResult(
        model=stored.manifest.ref, architecture=stored.manifest.architecture, device=device,
        device_name=str(core.get_property(device.split(":")[0], "FULL_DEVICE_NAME")),
        precision=reported(detector.compiled, "INFERENCE_PRECISION_HINT"),
        threads=reported_int(detector.compiled, "INFERENCE_NUM_THREADS"), openvino=ov.get_version(),
        compile_s=round(detector.compile_s, 4), first_inference_ms=round(first_ms, 3),
        latency=percentiles(samples), latency_in_turns=in_turns is not None,
        pipeline_p50_ms=round(float(np.median([t.preprocess + t.infer + t.postprocess for t in pipeline])) * 1e3, 3),
        paced_p50_ms=round(float(np.median(paced)) * 1e3, 4) if paced else None,
        pace_fps=settings.pace_fps if paced else None,
        throughput=throughput, cpu_percent=monitor.use.cpu_percent, peak_rss_mb=monitor.use.peak_rss_mb,
        energy_per_inference_j=None if per_inference is None else round(per_inference, 6),
        avg_power_w=None if energy.watts is None else round(energy.watts, 3),
        power_source=meter.source, power_reason=None if energy.joules is not None else (
            meter.reason if in_turns is None else "latency timed in turns: no energy per model"),
    )
    return result, detector
