"""Timing OpenVINO IRs: the one module that compiles a model for timing and times synchronous inferences.

The bench, the layer profiler, the pruning loop, the export (release) and the pruning report all time
through here, so they compile with the same properties, feed the same prepared input and read back the
thread count they really ran with.

Thread-count policy (`threads`):
    None, the default, is the deployment's count: the agent compiles with the LATENCY hint and leaves
    INFERENCE_NUM_THREADS to OpenVINO (on a CPU, one thread per physical core). The bench, the export's
    latency figure and `headcount-prune latency` time with it. A count is pinned only to compare with a
    latency LUT: the profiler pins one (`headcount-agent profile --threads`, 1 by default, because
    per-layer differences of microseconds drown in the scheduling noise of several threads on a shared
    machine) and records it in the LUT; whatever is compared with that LUT (the pruning loop, the
    report's --check-rounds) times with the LUT's count (`lut_threads`). Every timing reports the count
    it ran with (`reported_int(compiled, "INFERENCE_NUM_THREADS")`), never the one it asked for.

A timed inference is `request.infer()` on an input tensor set once beforehand (as benchmark_app does):
no copy of the input is timed.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np
import openvino as ov

from models.lut import Lut

BURST = 30
"""Timed inferences of one model in each of its turns (`time_interleaved`)."""
BURST_WARMUP = 10
"""Untimed inferences that open every turn: the model warms up again after the others ran."""


def lut_threads(lut: Lut | None) -> int | None:
    """The thread count to time with for a comparison with `lut`: its own, else the deployment's (None)."""
    return lut.thread_count if lut is not None else None


def compile_config(core: ov.Core, device: str, threads: int | None = None, streams: int | None = 1,
                   precision: str | None = None) -> dict[str, object]:
    """Properties for timing: LATENCY hint, `streams` streams, `threads` threads (None: the deployment's,
    see the module docstring), optional INFERENCE_PRECISION_HINT; only those the device supports."""
    supported = set(core.get_property(device.split(":")[0], "SUPPORTED_PROPERTIES"))
    wanted: dict[str, object] = {"PERFORMANCE_HINT": "LATENCY"}
    if streams is not None:
        wanted["NUM_STREAMS"] = streams
    if threads is not None:
        wanted["INFERENCE_NUM_THREADS"] = threads
    if precision:
        wanted["INFERENCE_PRECISION_HINT"] = precision
    return {key: value for key, value in wanted.items() if key in supported}


def reported(compiled: ov.CompiledModel, key: str) -> str | None:
    """A compiled model's property as a string, or None where the device does not report it."""
    try:
        value = compiled.get_property(key)
    except RuntimeError:
        return None
    return value.get_type_name() if isinstance(value, ov.Type) else str(value)


def reported_int(compiled: ov.CompiledModel, key: str) -> int | None:
    """A compiled model's integer property, or None where the device does not report one."""
    value = reported(compiled, key)
    return int(value) if value and value.isdigit() else None


def prepared_request(compiled: ov.CompiledModel, seed: int = 0) -> ov.InferRequest:
    """An infer request with a fixed random input (0..255, the port's element type) set on every input."""
    request = compiled.create_infer_request()
    rng = np.random.default_rng(seed)
    for port in compiled.inputs:
        dtype = port.get_element_type().to_dtype()
        request.set_tensor(port, ov.Tensor(rng.uniform(0, 255, list(port.get_shape())).astype(dtype)))
    return request


def infer_seconds(request: ov.InferRequest) -> float:
    """Seconds of one synchronous inference on the request's prepared input."""
    started = time.perf_counter()
    request.infer()
    return time.perf_counter() - started


def time_inferences(request: ov.InferRequest, runs: int, warmup: int = 10) -> list[float]:
    """Seconds of each of `runs` synchronous inferences, after `warmup` untimed ones."""
    for _ in range(warmup):
        request.infer()
    return [infer_seconds(request) for _ in range(runs)]


def time_paced(request: ov.InferRequest, runs: int, period_s: float) -> list[float]:
    """Seconds of `runs` inferences, each started one `period_s` after the previous one started.

    A camera's pace: a one-camera agent infers once per frame and idles in between, and an idle
    runtime's worker threads go to sleep, so each inference pays to wake them (docs/measuring.md)."""
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        samples.append(infer_seconds(request))
        time.sleep(max(0.0, period_s - (time.perf_counter() - started)))
    return samples


def time_interleaved(requests: list[ov.InferRequest], runs: int, warmup: int = 5, burst: int = BURST,
                     burst_warmup: int = BURST_WARMUP) -> list[list[float]]:
    """Seconds of `runs` inferences of each request, the requests taking turns: each turn is `burst_warmup`
    untimed inferences of one model, then up to `burst` timed ones.

    On a machine shared with other jobs, absolute latency drifts by tens of percent within minutes;
    running the models in turn exposes all of them to the same load, so their ratios stay meaningful.
    Turns, not single inferences: a model run right after another starts with the other's data in the
    caches, and one inference at a time read a deep variant's speedup a quarter below what the bench and
    benchmark_app measure (docs/pruning-journal.md, "Timing in turns, and what the agent sees at a camera's
    pace"). Within its turn a model runs back to back, as they time it. `burst=1, burst_warmup=0` is one
    inference at a time.
    """
    if burst < 1 or burst_warmup < 0:
        raise ValueError(f"a turn needs burst >= 1 and burst_warmup >= 0 (got {burst}, {burst_warmup})")
    for request in requests:
        for _ in range(warmup):
            request.infer()
    samples: list[list[float]] = [[] for _ in requests]
    while requests and len(samples[0]) < runs:
        timed = min(burst, runs - len(samples[0]))
        for request, bucket in zip(requests, samples, strict=True):
            for _ in range(burst_warmup):
                request.infer()
            bucket.extend(infer_seconds(request) for _ in range(timed))
    return samples


def ir_request(core: ov.Core, xml: Path, device: str = "CPU", threads: int | None = None) -> ov.InferRequest:
    """A bare IR (no preprocessing) compiled for timing, with its prepared input."""
    return prepared_request(core.compile_model(core.read_model(xml), device, compile_config(core, device, threads)))


def median_ms(seconds: list[float]) -> float:
    return float(statistics.median(seconds)) * 1e3


def ir_latency_ms(xml: Path, device: str = "CPU", runs: int = 100, warmup: int = 10, threads: int | None = None
                  ) -> float:
    """Median ms per synchronous batch-1 inference of a bare IR (random input, no pre/post-processing)."""
    return median_ms(time_inferences(ir_request(ov.Core(), xml, device, threads), runs, warmup))


def interleaved_ms(xmls: list[Path], runs: int, threads: int | None = None, warmup: int = 5, device: str = "CPU"
                   ) -> list[float]:
    """Median ms per inference of each bare IR, the IRs taking turns (`time_interleaved`)."""
    core = ov.Core()
    requests = [ir_request(core, xml, device, threads) for xml in xmls]
    return [median_ms(samples) for samples in time_interleaved(requests, runs, warmup)]
