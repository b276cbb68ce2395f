"""Bench results: one object per (model, device), validated at the edges (JSON files, MQTT payloads).

Kept free of OpenVINO and of the rest of the agent so `agent.topics` can name it as the `bench` payload.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

from pydantic import Field, model_validator

from models.base import StrictModel


class LatencyStats(StrictModel):
    """Batch-1 synchronous latency with one stream, over `iterations` inferences after warm-up."""

    iterations: int = Field(gt=0)
    p50_ms: float = Field(gt=0)
    p95_ms: float = Field(gt=0)
    p99_ms: float = Field(gt=0)
    mean_ms: float = Field(gt=0)
    min_ms: float = Field(gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> LatencyStats:
        if not self.min_ms <= self.p50_ms <= self.p95_ms <= self.p99_ms:
            raise ValueError("percentiles must satisfy min <= p50 <= p95 <= p99")
        return self


class ThroughputStats(StrictModel):
    """Frames per second with the device's THROUGHPUT hint and its optimal number of async requests."""

    fps: float = Field(gt=0)
    requests: int = Field(gt=0, description="Async infer requests in flight.")
    streams: int | None = Field(description="NUM_STREAMS the compiled model chose.")
    frames: int = Field(gt=0)
    seconds: float = Field(gt=0)


class Accuracy(StrictModel):
    dataset: str = Field(description="Dataset directory (Pascal VOC layout).")
    label: str = Field(description="Class evaluated.")
    images: int = Field(ge=0)
    map50: float | None = Field(description="VOC-style AP@0.5 (all-point interpolation); None without objects.")
    count_mae: float = Field(ge=0, description="Mean absolute error of the per-image count at `score_threshold`.")
    score_threshold: float = Field(description="Score threshold for counting.")


class BenchResult(StrictModel):
    """One model variant on one device."""

    ts: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))
    model: str = Field(description="`name@version`.")
    architecture: str
    device: str = Field(description="OpenVINO device as requested.")
    device_name: str = Field(description="FULL_DEVICE_NAME.")
    precision: str | None = Field(description="INFERENCE_PRECISION_HINT of the latency-compiled model.")
    threads: int | None = Field(default=None, description="INFERENCE_NUM_THREADS of the latency-compiled model "
                                "(a latency LUT compares with this bench only if measured with as many).")
    openvino: str
    compile_s: float = Field(ge=0, description="Read + preprocessing + compile with the LATENCY hint.")
    first_inference_ms: float = Field(gt=0, description="First inference after compiling (cold).")
    latency: LatencyStats = Field(description="Device inference only (request.infer on a prepared tensor).")
    latency_in_turns: bool = Field(
        default=False, description="True when the latency was timed in turns with the run's other variants on "
        "this device (--turns), so ratios between them hold under a drifting load; False: alone, back to back.")
    pipeline_p50_ms: float = Field(gt=0, description="Median of resize + infer + decode on a real frame.")
    paced_p50_ms: float | None = Field(
        default=None, gt=0, description="Median of the same inference started once per frame period of a "
        "`pace_fps` camera, as a one-camera agent runs it: the runtime idles between frames and wakes for each. "
        "None when not measured (--paced-runs 0).")
    pace_fps: float | None = Field(default=None, gt=0, description="Frame rate of `paced_p50_ms`.")
    throughput: ThroughputStats
    cpu_percent: float = Field(ge=0, description="This process's CPU use during the measurement (100 = one core).")
    peak_rss_mb: float = Field(gt=0, description="Peak resident memory of this process during the pair.")
    energy_per_inference_j: float | None = Field(description="From the power sensor over the latency run.")
    avg_power_w: float | None = Field(description="Average power over the latency run (whole package/system).")
    power_source: str = Field(description="'rapl:<zone>', 'hwmon:<name>' or 'none'.")
    power_reason: str | None = Field(description="Why energy and power are null, else None.")
    accuracy: Accuracy | None = Field(default=None, description="With --accuracy only.")

    def to_json(self) -> bytes:
        """The MQTT payload (agent.topics calls this on payload models)."""
        return self.model_dump_json().encode()


class BenchReport(StrictModel):
    """What `--json` writes: host facts and one result per (model, device)."""

    host: str
    cpu_count: int
    results: list[BenchResult]


def report_schema() -> str:
    return json.dumps(BenchReport.model_json_schema(), indent=2)
