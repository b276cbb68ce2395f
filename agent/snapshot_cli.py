"""`headcount-agent snapshot`: ask a running agent for a camera's annotated snapshot and save it.

    headcount-agent snapshot --config FILE --camera NAME --out FILE.jpg [--timeout S]

The agent publishes the JPEG on `<prefix>/<device_id>/<camera>/snapshot` and acks with its SHA-256; the
file saved is the message with that hash. Exit status: 0 saved, 1 nack or nothing in time, 78 bad
arguments or config.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import threading
import uuid
from pathlib import Path

from agent import exit_codes
from agent.commands import CommandResult
from agent.swap_cli import prepare, send_command

IMAGE_WAIT_S = 5.0


class _Received:
    """JPEGs that arrived on the snapshot topic, by SHA-256."""

    def __init__(self) -> None:
        self.by_hash: dict[str, bytes] = {}
        self._cond = threading.Condition()

    def add(self, payload: bytes) -> None:
        with self._cond:
            self.by_hash[hashlib.sha256(payload).hexdigest()] = payload
            self._cond.notify_all()

    def wait_for(self, result: CommandResult) -> None:
        if result.snapshot is None:
            return
        with self._cond:
            self._cond.wait_for(lambda: result.snapshot.sha256 in self.by_hash, timeout=IMAGE_WAIT_S)


def cmd_snapshot(args: argparse.Namespace) -> int:
    command = {"request_id": uuid.uuid4().hex, "action": "snapshot", "camera": args.camera}
    prepared = prepare(args.config, command)
    if isinstance(prepared, int):
        return prepared
    config, topics = prepared
    received = _Received()
    topic = topics.name("snapshot", camera=args.camera)
    result = send_command(config.mqtt, topics, command, args.timeout, listen={topic: received.add},
                          then=received.wait_for)
    if result is None:
        print(f"no result from {topics.base} within {args.timeout:.0f} s (is the agent running and connected?)",
              file=sys.stderr)
        return exit_codes.FAILURE
    if not result.ok or result.snapshot is None:
        print(f"refused: {result.reason}", file=sys.stderr)
        return exit_codes.FAILURE
    jpeg = received.by_hash.get(result.snapshot.sha256)
    if jpeg is None:
        print(f"the agent published a snapshot on {topic} but it did not arrive within {IMAGE_WAIT_S:.0f} s",
              file=sys.stderr)
        return exit_codes.FAILURE
    out = Path(args.out)
    partial = out.with_name(out.name + ".part")
    partial.write_bytes(jpeg)
    partial.replace(out)
    info = result.snapshot
    print(f"{out}: {info.width}x{info.height} JPEG, {info.bytes} bytes, quality {info.quality}, "
          f"camera {info.camera} frame {info.frame}")
    return exit_codes.OK


def register(sub: argparse._SubParsersAction) -> None:
    snapshot = sub.add_parser("snapshot", help="save an annotated snapshot of a running agent's camera")
    snapshot.add_argument("--config", required=True, help="the agent's config (for broker and topics)")
    snapshot.add_argument("--camera", required=True, help="camera name from the config")
    snapshot.add_argument("--out", required=True, help="JPEG file to write")
    snapshot.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the result")
    snapshot.set_defaults(func=cmd_snapshot)
