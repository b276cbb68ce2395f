"""CPU latency of an IR: median of synchronous batch-1 inferences after warm-up (OpenVINO)."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np


def measure_latency_ms(xml: Path, device: str = "CPU", runs: int = 100, warmup: int = 10,
                       threads: int | None = None) -> float:
    """Median milliseconds per inference of the bare network (random input, no pre/post-processing)."""
    import openvino as ov

    core = ov.Core()
    config: dict[str, str] = {"PERFORMANCE_HINT": "LATENCY"}
    if threads:
        config["INFERENCE_NUM_THREADS"] = str(threads)
    compiled = core.compile_model(core.read_model(xml), device, config)
    request = compiled.create_infer_request()
    port = compiled.inputs[0]
    dtype = np.uint8 if port.get_element_type().get_type_name() == "u8" else np.float32
    data = np.random.default_rng(0).uniform(0, 255, tuple(port.get_shape())).astype(dtype)
    times = []
    for i in range(warmup + runs):
        started = time.perf_counter()
        request.infer({0: data})
        if i >= warmup:
            times.append((time.perf_counter() - started) * 1000)
    return float(statistics.median(times))
