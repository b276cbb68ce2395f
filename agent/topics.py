"""Every MQTT topic the agent uses and the pydantic model of its payload: the only place they are defined.

Topics are `<prefix>/<device_id>/<suffix>`. Subscriptions, publishing and the README's topic table
are all derived from `TOPICS`; `headcount-agent schema topics` prints the payloads' JSON Schemas.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from models.base import StrictModel
from models.bench import BenchResult


class _Payload(StrictModel):
    model_config = ConfigDict(populate_by_name=True)

    def to_json(self) -> bytes:
        return self.model_dump_json(by_alias=True).encode()


class CountMessage(_Payload):
    ts: float = Field(description="Unix time (s) of the frame the count comes from.")
    seq: int = Field(ge=0, description="Per-camera sequence number, +1 per message, survives restarts.")
    camera: str = Field(description="Camera name from the config.")
    count: int = Field(ge=0, description="Occupancy: people of the counted label (inside the zone if set), "
                       "smoothed over the camera's `occupancy` window.")
    raw_count: int = Field(ge=0, description="The frame's own count, before smoothing.")
    in_total: int = Field(alias="in", ge=0, description="Line crossings towards the inside in this period.")
    out_total: int = Field(alias="out", ge=0, description="Line crossings towards the outside in this period.")
    model: str = Field(description="`name@version` of the model that produced the count.")
    frame: int = Field(ge=0, description="Index of the frame in this camera's stream.")
    period_start: datetime = Field(
        description="Start of the period `in` and `out` count from (ISO-8601, UTC; `[totals]` in the config). "
        "Totals survive restarts; a new value means they were reset on purpose, never lost.")


class CrossingMessage(_Payload):
    id: str = Field(description="Event id, unique across restarts: `<device_id>/<camera>/<store>/<seq>` "
                    "(`store`: random id of the agent's state file). Drop an id already seen.")
    seq: int = Field(ge=0, description="Per-camera crossing number, +1 per crossing, survives restarts and periods.")
    ts: float = Field(description="Unix time (s) of the frame the person crossed on (the message follows the "
                      "line's `confirm_s` later).")
    camera: str = Field(description="Camera name from the config.")
    direction: Literal["in", "out"] = Field(description="`in`: towards the line's inside point; `out`: away.")
    frame: int = Field(ge=0, description="Index of the frame the person crossed on, in this camera's stream.")
    track: int = Field(description="Tracker id of the person who crossed (unique within a run only).")
    model: str = Field(description="`name@version` of the model that saw the crossing.")
    in_total: int = Field(alias="in", ge=0, description="The period's `in` total after this crossing.")
    out_total: int = Field(alias="out", ge=0, description="The period's `out` total after this crossing.")
    period_start: datetime = Field(description="Start of the period the totals count from (ISO-8601, UTC).")


class StateMessage(_Payload):
    model: str = Field(description="Running model, `name@version`.")
    device: str = Field(description="OpenVINO device the model really runs on.")
    since: datetime = Field(description="When this model started running (UTC).")
    config_sha256: str = Field(description="SHA-256 of the config file the agent runs with.")
    cameras: list[str] = Field(description="Camera names.")
    agent_version: str = Field(description="headcount agent version.")


class StageLatency(_Payload):
    p50_ms: float | None = Field(description="Median over the interval; null when no sample.")
    p95_ms: float | None = Field(description="95th percentile over the interval; null when no sample.")
    samples: int = Field(ge=0, description="Samples in the interval.")


class CameraTelemetry(_Payload):
    state: Literal["starting", "streaming", "reconnecting", "ended"] = Field(description="Reader state.")
    fps_in: float = Field(description="Frames read from the source per second over the interval.")
    fps_processed: float = Field(description="Frames inferred per second over the interval.")
    frames_read: int = Field(description="Frames read since start.")
    frames_processed: int = Field(description="Frames inferred since start.")
    frames_dropped: int = Field(description="Frames replaced by a newer one before inference, since start.")
    reconnects: int = Field(description="Reconnect attempts since start.")


class TelemetryMessage(_Payload):
    ts: float = Field(description="Unix time (s) at the end of the interval.")
    interval_s: float = Field(description="Length of the interval the figures cover.")
    model: str = Field(description="Running model, `name@version`.")
    device: str = Field(description="OpenVINO device in use.")
    fps: float = Field(description="Frames inferred per second, all cameras.")
    stages: dict[str, StageLatency] = Field(
        description="decode, preprocess, infer, postprocess and tiling (box merge) latency per frame.")
    cameras: dict[str, CameraTelemetry] = Field(description="Per-camera stream figures.")
    cpu_percent: float = Field(description="This process's CPU use (100 = one core).")
    rss_mb: float = Field(description="Resident memory of this process.")
    temperatures_c: dict[str, float] = Field(description="Sensor -> degrees C, where psutil has sensors.")
    power_w: float | None = Field(description="Average power over the interval; null without a sensor.")
    power_source: str = Field(description="'rapl:<zone>', 'hwmon:<name>' or 'none'.")
    queue_depth: int = Field(default=0, description="Count messages stored and not yet acknowledged.")
    queue_dropped: int = Field(default=0, description="Count messages dropped because the queue was full.")
    queue_waiting: int = Field(default=0, description="Count messages handed to the writer and not yet stored "
                               "(a crash loses these); more than a few means the disk is slow or failing.")


@dataclass(frozen=True)
class TopicSpec:
    suffix: str
    payload: type[BaseModel] | None
    qos: int
    retain: bool
    description: str


TOPICS: dict[str, TopicSpec] = {
    "available": TopicSpec("available", None, 1, True, "`online` / `offline` (last will)."),
    "state": TopicSpec("state", StateMessage, 1, True, "What runs: model, device, since, config hash."),
    "count": TopicSpec("{camera}/count", CountMessage, 1, False, "Counts per camera: on change, on heartbeat "
                       "while unchanged, and the last frame's when a stream ends or the agent stops."),
    "crossing": TopicSpec("{camera}/crossing", CrossingMessage, 1, False,
                          "One message per counted line crossing (stored first, like counts; `id` deduplicates)."),
    "telemetry": TopicSpec("telemetry", TelemetryMessage, 0, False, "Latency, fps, load, power per interval."),
    "cmd": TopicSpec("cmd", None, 1, False, "Commands to the agent (JSON)."),
    "cmd_result": TopicSpec("cmd/result", None, 1, False, "Results of commands."),
    "snapshot": TopicSpec("{camera}/snapshot", None, 0, False,
                          "JPEG of the latest frame, annotated; on request and per `snapshot_interval_s`."),
    "bench": TopicSpec("bench", BenchResult, 1, False, "Benchmark results from `headcount-agent bench`."),
}


class Topics:
    """Topic names for one agent: `Topics('headcount', 'pc1').name('count', camera='door')`."""

    def __init__(self, prefix: str, device_id: str) -> None:
        self.base = f"{prefix}/{device_id}"

    def name(self, key: str, **fields: str) -> str:
        return f"{self.base}/{TOPICS[key].suffix.format(**fields)}"

    def spec(self, key: str) -> TopicSpec:
        return TOPICS[key]


def payload_schemas() -> dict[str, dict]:
    """JSON Schema of every topic payload that has a model."""
    return {key: spec.payload.model_json_schema(by_alias=True) for key, spec in TOPICS.items() if spec.payload}
