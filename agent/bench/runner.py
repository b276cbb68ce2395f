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
from agent.power import PowerMeter
from agent.timing import reported, reported_int, time_inferences, time_paced
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


def bench_pair(core: ov.Core, stored: StoredModel, device: str, frame: np.ndarray, meter: PowerMeter,
               settings: BenchSettings) -> tuple[BenchResult, Detector]:
    """Measure one (model, device) pair; also returns the latency-compiled detector (for accuracy)."""
    with ResourceMonitor() as monitor:
        detector = Detector.open(stored, device, core, {"PERFORMANCE_HINT": "LATENCY"})
        tensor = input_tensor(detector, frame)
        request = detector.compiled.create_infer_request()
        started = time.perf_counter()
        request.infer({0: tensor})
        first_ms = (time.perf_counter() - started) * 1e3
        mark = meter.mark()
        samples = time_latency(request, tensor, settings)
        energy = meter.since(mark)
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
        latency=percentiles(samples),
        pipeline_p50_ms=round(float(np.median([t.preprocess + t.infer + t.postprocess for t in pipeline])) * 1e3, 3),
        paced_p50_ms=round(float(np.median(paced)) * 1e3, 4) if paced else None,
        pace_fps=settings.pace_fps if paced else None,
        throughput=throughput, cpu_percent=monitor.use.cpu_percent, peak_rss_mb=monitor.use.peak_rss_mb,
        energy_per_inference_j=None if per_inference is None else round(per_inference, 6),
        avg_power_w=None if energy.watts is None else round(energy.watts, 3),
        power_source=meter.source, power_reason=None if energy.joules is not None else meter.reason,
    )
    return result, detector
