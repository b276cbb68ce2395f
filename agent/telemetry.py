"""Telemetry: per-stage latency percentiles, per-camera rates, process load, temperatures and power."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import psutil

from agent.power import PowerMeter
from agent.topics import CameraTelemetry, StageLatency, TelemetryMessage

STAGES = ("decode", "preprocess", "infer", "postprocess", "tiling")


class StageStats:
    """Thread-safe latency samples per stage, drained once per telemetry interval."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._samples: dict[str, list[float]] = defaultdict(list)

    def add(self, stage: str, seconds: float) -> None:
        with self._lock:
            self._samples[stage].append(seconds)

    def drain(self) -> dict[str, StageLatency]:
        with self._lock:
            samples, self._samples = self._samples, defaultdict(list)
        result = {}
        for stage in STAGES:
            values = np.asarray(samples.get(stage, []), np.float64) * 1000
            if len(values):
                p50, p95 = np.percentile(values, [50, 95])
                result[stage] = StageLatency(p50_ms=round(float(p50), 3), p95_ms=round(float(p95), 3),
                                             samples=len(values))
            else:
                result[stage] = StageLatency(p50_ms=None, p95_ms=None, samples=0)
        return result


@dataclass
class CameraCounters:
    """Cumulative figures of one camera, as the reader and the pipeline report them."""

    state: str
    frames_read: int
    frames_processed: int
    frames_dropped: int
    reconnects: int


def read_temperatures() -> dict[str, float]:
    sensors = getattr(psutil, "sensors_temperatures", None)
    if sensors is None:
        return {}
    try:
        readings = sensors()
    except (OSError, RuntimeError):
        return {}
    temps = {}
    for chip, entries in readings.items():
        for i, entry in enumerate(entries):
            temps[f"{chip}/{entry.label or i}"] = round(float(entry.current), 1)
    return temps


class TelemetrySampler:
    """Turns cumulative counters into one `TelemetryMessage` per call of `sample`."""

    def __init__(self, sysfs_root: str = "/sys") -> None:
        self.stages = StageStats()
        self.power = PowerMeter(sysfs_root)
        self.process = psutil.Process()
        self.process.cpu_percent(None)
        self._mark = self.power.mark()
        self._last_at = time.monotonic()
        self._last: dict[str, CameraCounters] = {}

    def sample(self, model: str, device: str, cameras: dict[str, CameraCounters]) -> TelemetryMessage:
        now = time.monotonic()
        interval = max(now - self._last_at, 1e-6)
        energy = self.power.since(self._mark)
        self._mark, self._last_at = self.power.mark(), now
        per_camera = {}
        total_processed = 0
        for name, c in cameras.items():
            before = self._last.get(name, CameraCounters(c.state, 0, 0, 0, 0))
            processed = c.frames_processed - before.frames_processed
            total_processed += processed
            per_camera[name] = CameraTelemetry(
                state=c.state,  # type: ignore[arg-type]
                fps_in=round((c.frames_read - before.frames_read) / interval, 2),
                fps_processed=round(processed / interval, 2),
                frames_read=c.frames_read,
                frames_processed=c.frames_processed,
                frames_dropped=c.frames_dropped,
                reconnects=c.reconnects,
            )
        self._last = dict(cameras)
        return TelemetryMessage(
            ts=time.time(),
            interval_s=round(interval, 3),
            model=model,
            device=device,
            fps=round(total_processed / interval, 2),
            stages=self.stages.drain(),
            cameras=per_camera,
            cpu_percent=round(self.process.cpu_percent(None), 1),
            rss_mb=round(self.process.memory_info().rss / 2**20, 1),
            temperatures_c=read_temperatures(),
            power_w=None if energy.watts is None else round(energy.watts, 3),
            power_source=self.power.source,
        )
