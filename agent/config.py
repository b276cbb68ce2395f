"""The agent's configuration: one TOML file, validated by pydantic, secrets from the environment.

Every key is documented by its field description; `headcount-agent check-config FILE` validates a file
and `headcount-agent schema config` prints the JSON Schema. Unknown keys are errors, so a typo never
silently falls back to a default.
"""

from __future__ import annotations

import os
import re
import socket
import tomllib
from datetime import time
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator, model_validator

from agent.tiling import TileGrid
from models.base import StrictModel
from models.manifest import NAME_PATTERN

Point = tuple[Annotated[float, Field(ge=0.0, le=1.0)], Annotated[float, Field(ge=0.0, le=1.0)]]
"""A point in normalised frame coordinates: (x, y), 0..1, origin top left."""

TOPIC_SEGMENT = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


class ConfigError(Exception):
    """The config file is unusable; the message names the file, the field and the problem."""


class _Section(StrictModel):
    """A config table: unknown keys are errors (`models.base`)."""


class TlsConfig(_Section):
    ca_file: Path | None = Field(default=None, description="CA bundle that signed the broker's certificate.")
    cert_file: Path | None = Field(default=None, description="Client certificate (for brokers that require one).")
    key_file: Path | None = Field(default=None, description="Client private key for `cert_file`.")
    insecure: bool = Field(default=False, description="Skip hostname verification (testing only).")


class MqttConfig(_Section):
    host: str = Field(default="localhost", description="Broker host name or address.")
    port: int = Field(default=1883, ge=1, le=65535, description="Broker port (8883 is usual with TLS).")
    prefix: str = Field(default="headcount", pattern=TOPIC_SEGMENT, description="First topic level.")
    client_id: str | None = Field(default=None, description="MQTT client id; default `headcount-<device_id>`.")
    username: str | None = Field(default=None, description="Broker user; env HEADCOUNT_MQTT_USERNAME overrides.")
    password: str | None = Field(
        default=None, description="Broker password; prefer env HEADCOUNT_MQTT_PASSWORD over the file."
    )
    tls: TlsConfig | None = Field(default=None, description="Enable TLS with these files; omit for plain TCP.")
    keepalive_s: int = Field(default=30, ge=5, le=3600, description="MQTT keep-alive interval.")
    reconnect_max_s: float = Field(default=30.0, gt=0, description="Longest wait between reconnect attempts.")


class TilingConfig(_Section):
    rows: int = Field(default=2, ge=1, le=4, description="Crops per column.")
    cols: int = Field(default=2, ge=1, le=4, description="Crops per row.")
    fraction: float = Field(default=0.6, gt=0.0, le=1.0, description="Each crop's side as a fraction of the frame's.")
    full_frame: bool = Field(default=True, description="Also run the whole frame (people too big for a crop).")

    @model_validator(mode="after")
    def _covers_frame(self) -> TilingConfig:
        self.grid()  # the grid's own rule: crops that leave gaps are refused
        return self

    def grid(self) -> TileGrid:
        return TileGrid(self.rows, self.cols, self.fraction, self.full_frame)


class ModelConfig(_Section):
    store: Path = Field(default=Path("models"), description="Model store root (`<store>/<name>/<version>/`).")
    name: str = Field(default="person-ssdlite", pattern=NAME_PATTERN, description="Model name in the store.")
    version: str = Field(default="1", pattern=NAME_PATTERN, description="Model version in the store.")
    devices: list[str] = Field(
        default_factory=lambda: ["MYRIAD", "NPU", "GPU", "CPU"],
        min_length=1,
        description="Device preference list (OpenVINO names, AUTO:/HETERO: allowed); the first available one "
        "that runs the model's precision wins (MYRIAD cannot run INT8), CPU is the fallback.",
    )
    score_threshold: float | None = Field(
        default=None, ge=0.0, le=1.0,
        description="Minimum detection score counted. Default: the model's calibrated count threshold "
        "(manifest `metrics.count_threshold`), else 0.5.",
    )
    tiling: TilingConfig | None = Field(
        default=None, description="Also run the model on overlapping crops of every frame (all cameras; a "
        "camera's own `tiling` wins). Finds small, distant people; costs one inference per window.",
    )
    label: str = Field(default="person", description="Label to count; must be one of the model's labels.")
    performance_hint: Literal["LATENCY", "THROUGHPUT"] | None = Field(
        default=None, description="OpenVINO performance hint for the compiled model. Default: chosen from the "
        "cameras, LATENCY for one, THROUGHPUT for several (their frames run side by side in the device's streams).",
    )
    cache_dir: Path | None = Field(
        default=None,
        description="OpenVINO model cache: faster restarts, and swaps compile in a low-priority process into "
        "it. Default: `ov-cache` beside the queue.",
    )


class LineConfig(_Section):
    start: Point = Field(description="Line start, normalised (x, y).")
    end: Point = Field(description="Line end, normalised (x, y).")
    inside: Point = Field(description="Any point on the room's side of the line: moving to that side counts `in`.")
    min_frames: int = Field(default=3, ge=1, description="Frames a track must stay on the new side to count.")
    band: float = Field(
        default=0.002, ge=0.0, le=0.2,
        description="Dead band either side of the line, as a fraction of the frame height: an anchor this close "
        "is on neither side, so someone standing on the line is not counted crossing it. Wider bands delay a "
        "crossing until the track is clear of the band, and lose tracks that end sooner (docs/counting.md).",
    )
    confirm_s: float = Field(
        default=0.5, ge=0.0, le=10.0,
        description="A crossing is counted this long after it happens, and dropped with the crossing back if the "
        "same track returns within it (a box flickering across the line, a step onto it and back). Counts and "
        "crossing messages come this much later; 0 counts at once (docs/counting.md).",
    )

    @model_validator(mode="after")
    def _not_degenerate(self) -> LineConfig:
        if self.start == self.end:
            raise ValueError("line start and end are the same point")
        (x1, y1), (x2, y2), (px, py) = self.start, self.end, self.inside
        if abs((x2 - x1) * (py - y1) - (y2 - y1) * (px - x1)) < 1e-9:
            raise ValueError("`inside` lies on the line; it must be on one side of it")
        return self


class OccupancyConfig(_Section):
    window_s: float = Field(default=1.5, ge=0.0, le=60.0,
                            description="Seconds of per-frame counts the published occupancy is taken over.")
    statistic: Literal["median", "mean", "max", "last"] = Field(
        default="median", description="What is published of the window: `last` publishes raw per-frame counts.")
    hold_s: float = Field(default=0.0, ge=0.0, le=60.0,
                          description="The statistic must differ this long from the published value to change it.")


class TrackerConfig(_Section):
    iou_threshold: float = Field(default=0.3, gt=0.0, lt=1.0, description="Minimum IoU to continue a track.")
    max_missed: int = Field(default=5, ge=0, description="Frames a track survives without a detection.")


class CameraConfig(_Section):
    name: str = Field(pattern=TOPIC_SEGMENT, description="Camera name, used as a topic level.")
    source: str = Field(repr=False, description="Video file path, RTSP/HTTP URL, or USB camera index ('0').")
    loop: bool = Field(default=False, description="Files only: start again at the end.")
    realtime: bool = Field(
        default=True,
        description="Files only: play at the file's frame rate like a live camera (stale frames dropped); "
        "false reads as fast as inference takes frames, dropping none.",
    )
    anchor: Literal["center", "bottom_center"] = Field(
        default="center", description="Box point used for zones and lines."
    )
    zone: list[Point] | None = Field(
        default=None, min_length=3, description="Polygon (normalised points); occupancy counts only inside it."
    )
    line: LineConfig | None = Field(default=None, description="Counting line for in/out totals.")
    tiling: TilingConfig | None = Field(default=None, description="Tiled inference for this camera (see model.tiling).")
    occupancy: OccupancyConfig | None = Field(default=None, description="Smoothing for this camera (default: the "
                                              "top-level `occupancy`).")
    stall_timeout_s: float = Field(default=10.0, gt=0, description="No frame for this long: reconnect.")
    reconnect_max_s: float = Field(default=30.0, gt=0, description="Longest wait between reconnect attempts.")
    snapshot_interval_s: float | None = Field(
        default=None, gt=0, description="Publish an annotated snapshot this often; omit for on request only."
    )

    @property
    def is_file(self) -> bool:
        return is_file_source(self.source)


class TelemetryConfig(_Section):
    interval_s: float = Field(default=10.0, gt=0, description="Seconds between telemetry messages.")
    sysfs_root: Path = Field(default=Path("/sys"), description="Where RAPL and hwmon are read (tests use a fake tree).")


class QueueConfig(_Section):
    path: Path = Field(
        default=Path("queue.sqlite"),
        description="Store-and-forward queue (SQLite). Relative: under $STATE_DIRECTORY when systemd sets it, "
        "else next to the config file.",
    )
    max_messages: int = Field(default=100_000, ge=10, description="Bound; when full the oldest are dropped.")
    flush_timeout_s: float = Field(default=5.0, ge=0, description="At shutdown, wait this long for PUBACKs.")


class SnapshotConfig(_Section):
    max_bytes: int = Field(
        default=200_000, ge=10_000, description="JPEG size bound: quality, then resolution, is lowered to fit."
    )
    quality: int = Field(default=85, ge=30, le=100, description="JPEG quality tried first.")
    retain: bool = Field(default=False, description="Publish snapshots retained (the last one stays on the broker).")


class HomeAssistantConfig(_Section):
    enabled: bool = Field(default=False, description="Publish Home Assistant MQTT discovery configs (retained).")
    discovery_prefix: str = Field(
        default="homeassistant", pattern=TOPIC_SEGMENT, description="Home Assistant's discovery prefix."
    )


class TotalsConfig(_Section):
    reset_at: str = Field(
        default="never",
        description='When the in/out totals go back to 0: "never", or a local time of day "HH:MM" (24 h, in '
        "`timezone`) every day. Count and crossing messages carry the start of their period (`period_start`).",
    )
    timezone: str | None = Field(
        default=None, description='IANA time zone of `reset_at` (zoneinfo, e.g. "Europe/Berlin"; daylight saving '
        "is followed). Required when `reset_at` is a time of day.",
    )

    @field_validator("reset_at")
    @classmethod
    def _never_or_time_of_day(cls, value: str) -> str:
        if value != "never" and not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
            raise ValueError(f'{value!r} is neither "never" nor a time of day "HH:MM" (00:00 to 23:59)')
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError, OSError):
                raise ValueError(f"unknown time zone {value!r}: use an IANA name such as \"Europe/Berlin\"") from None
        return value

    @model_validator(mode="after")
    def _zone_for_a_time(self) -> TotalsConfig:
        if self.reset_at != "never" and self.timezone is None:
            raise ValueError(f'timezone is required with reset_at = "{self.reset_at}" (e.g. "Europe/Berlin")')
        return self

    @property
    def reset_time(self) -> time | None:
        """The daily reset time, None for "never"."""
        return None if self.reset_at == "never" else time.fromisoformat(self.reset_at)


class AgentConfig(_Section):
    device_id: str = Field(
        default_factory=lambda: socket.gethostname().split(".")[0] or "agent",
        pattern=TOPIC_SEGMENT,
        description="This PC's id, the second topic level (default: host name).",
    )
    mqtt: MqttConfig = Field(default_factory=MqttConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    tracker: TrackerConfig = Field(default_factory=TrackerConfig)
    occupancy: OccupancyConfig = Field(default_factory=OccupancyConfig,
                                       description="How the published occupancy is smoothed.")
    telemetry: TelemetryConfig = Field(default_factory=TelemetryConfig)
    queue: QueueConfig = Field(default_factory=QueueConfig)
    snapshot: SnapshotConfig = Field(default_factory=SnapshotConfig)
    homeassistant: HomeAssistantConfig = Field(default_factory=HomeAssistantConfig)
    totals: TotalsConfig = Field(default_factory=TotalsConfig,
                                 description="When in/out totals reset (they survive restarts either way).")
    cameras: list[CameraConfig] = Field(min_length=1, description="At least one camera.")
    stall_exit_s: float = Field(
        default=60.0, gt=0,
        description="Frames arrive but none was inferred for this long: exit with status 75 so the service "
        "manager restarts the agent.",
    )

    @field_validator("cameras")
    @classmethod
    def _unique_names(cls, cameras: list[CameraConfig]) -> list[CameraConfig]:
        names = [c.name for c in cameras]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"camera names must be unique; repeated: {', '.join(duplicates)}")
        return cameras


ENV_OVERRIDES = {
    "HEADCOUNT_MQTT_USERNAME": ("mqtt", "username"),
    "HEADCOUNT_MQTT_PASSWORD": ("mqtt", "password"),
    "HEADCOUNT_MQTT_HOST": ("mqtt", "host"),
    "HEADCOUNT_MQTT_PORT": ("mqtt", "port"),
}


def _format_errors(path: Path, exc: ValidationError) -> str:
    lines = [f"{path}: invalid configuration ({exc.error_count()} problem(s)):"]
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"]) or "(top level)"
        lines.append(f"  {where}: {error['msg']}")
    return "\n".join(lines)


def load_config(path: Path | str, environ: dict[str, str] | None = None) -> AgentConfig:
    """Read, apply environment overrides, validate. Relative paths resolve against the file's folder."""
    path = Path(path)
    environ = os.environ if environ is None else environ
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    for variable, (section, key) in ENV_OVERRIDES.items():
        if environ.get(variable):
            raw.setdefault(section, {})[key] = environ[variable]
    try:
        config = AgentConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_errors(path, exc)) from None
    return _resolve_paths(config, path.parent, environ.get("STATE_DIRECTORY"))


def _resolve_paths(config: AgentConfig, base: Path, state_directory: str | None) -> AgentConfig:
    def resolve(p: Path, within: Path = base) -> Path:
        return p if p.is_absolute() else (within / p)

    config.model.store = resolve(config.model.store)
    # systemd may list several state directories separated by ':'; the first is ours.
    state = Path(state_directory.split(":")[0]) if state_directory else base
    config.queue.path = resolve(config.queue.path, state)
    for camera in config.cameras:
        if camera.is_file:
            camera.source = str(resolve(Path(camera.source)))
    return config


def is_file_source(source: str) -> bool:
    """A camera source that is a video file: not a URL (`rtsp://...`) and not a USB index (`0`)."""
    return "://" not in source and not source.isdigit()
