"""The command protocol on `<prefix>/<device>/cmd` and its results on `cmd/result`.

Commands are JSON objects validated strictly (unknown fields and wrong types are rejected) and
bounded in size. Models are named by store name and version only; the same pattern as the store's
path components applies, so nothing in a command can reach outside the model store.
`headcount-agent schema commands` prints the JSON Schema.
"""

from __future__ import annotations

import json
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, TypeAdapter, ValidationError

from agent.config import TOPIC_SEGMENT
from models.base import StrictModel
from models.manifest import NAME_PATTERN

MAX_COMMAND_BYTES = 4096
DEVICE_PATTERN = r"^[A-Z][A-Z0-9_.:,-]{0,63}$"
REQUEST_ID = Field(
    min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$",
    description="Caller's id for this request; echoed in the result.",
)


class _Command(StrictModel):
    model_config = ConfigDict(strict=True)

    request_id: str = REQUEST_ID


class SwapModel(_Command):
    """Run another model from the store; the old one keeps counting until the new one is ready."""

    action: Literal["swap_model"]
    model: str = Field(pattern=NAME_PATTERN, description="Model name in the store.")
    version: str = Field(pattern=NAME_PATTERN, description="Model version in the store.")
    device: str | None = Field(
        default=None, pattern=DEVICE_PATTERN,
        description="OpenVINO device; default: the config's preference list.",
    )


class SetDevice(_Command):
    """Run the same model on another device."""

    action: Literal["set_device"]
    device: str = Field(pattern=DEVICE_PATTERN, description="OpenVINO device, e.g. 'CPU', 'GPU', 'NPU'.")


class Status(_Command):
    """Report what runs, with per-camera figures and the queue."""

    action: Literal["status"]


class Snapshot(_Command):
    """Publish an annotated JPEG of a camera's latest frame on `<camera>/snapshot`."""

    action: Literal["snapshot"]
    camera: str = Field(pattern=TOPIC_SEGMENT, description="Camera name from the agent's config.")


AnyCommand = SwapModel | SetDevice | Status | Snapshot
Command = Annotated[AnyCommand, Field(discriminator="action")]
COMMAND_ADAPTER: TypeAdapter[Command] = TypeAdapter(Command)


class SnapshotInfo(StrictModel):
    """What a snapshot published: enough to find it on its topic (`sha256`) and to judge it."""

    camera: str = Field(description="Camera name.")
    topic: str = Field(description="Where the JPEG was published.")
    bytes: int = Field(ge=0, description="Size of the JPEG.")
    sha256: str = Field(description="SHA-256 of the JPEG, to match it with the message on `topic`.")
    width: int = Field(ge=1, description="Width of the JPEG (lower than the frame's when downscaled to fit).")
    height: int = Field(ge=1, description="Height of the JPEG.")
    quality: int = Field(ge=1, le=100, description="JPEG quality used.")
    frame: int = Field(ge=0, description="Index of the frame in the camera's stream.")
    ts: float = Field(description="Unix time (s) the frame was read.")


class CommandResult(StrictModel):
    request_id: str | None = Field(description="The command's request_id; null if it could not be read.")
    action: str | None = Field(default=None, description="The command's action, if it could be read.")
    ok: bool = Field(description="true: ack; false: nack, see `reason`.")
    reason: str | None = Field(default=None, description="Why the command was refused or failed.")
    model: str | None = Field(default=None, description="`name@version` running after the command.")
    device: str | None = Field(default=None, description="Device running after the command.")
    compile_ms: float | None = Field(default=None, description="Time to read and compile the new model.")
    warmup_ms: float | None = Field(default=None, description="Time of the warm-up inferences.")
    switch_frames: dict[str, int] | None = Field(
        default=None, description="Per camera: index of the first frame the new model processed.",
    )
    status: dict | None = Field(default=None, description="For `status`: the state and per-camera figures.")
    snapshot: SnapshotInfo | None = Field(default=None, description="For `snapshot`: what was published.")


class CommandRejected(ValueError):
    """A command that cannot be parsed or validated. `request_id` is set when it could be read."""

    def __init__(self, reason: str, request_id: str | None = None, action: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.request_id = request_id
        self.action = action


def _readable_id(data: object, key: str) -> str | None:
    if isinstance(data, dict):
        value = data.get(key)
        if isinstance(value, str) and 0 < len(value) <= 128:
            return value
    return None


def parse_command(payload: bytes) -> AnyCommand:
    """Validate a raw payload; raises CommandRejected with a reason a person can act on."""
    if len(payload) > MAX_COMMAND_BYTES:
        raise CommandRejected(f"command is {len(payload)} bytes; the limit is {MAX_COMMAND_BYTES}")
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CommandRejected(f"command is not valid JSON: {exc}") from None
    request_id, action = _readable_id(data, "request_id"), _readable_id(data, "action")
    if not isinstance(data, dict):
        raise CommandRejected("command must be a JSON object")
    try:
        return COMMAND_ADAPTER.validate_python(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'command'}: {e['msg']}" for e in exc.errors())
        raise CommandRejected(f"invalid command: {problems}", request_id, action) from None
