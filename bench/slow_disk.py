"""Frames dropped when the disk is slow: counts committed by the writer thread vs by the camera thread.

Runs the real agent (in-process) on vtest.avi played at its native 10 fps with a real local broker, every
outbox commit slowed by `--commit-ms` (a stand-in for a slow or busy disk: `CountOutbox.put` sleeps, then
commits for real). Each round runs it twice, in turn: as shipped (`agent.count_writer.CountWriter` commits),
and with the camera threads committing their own counts, as the agent did before the writer. Prints
frames read, inferred and dropped, and the count messages that arrived in `seq` order.

    .venv/bin/python bench/slow_disk.py [--commit-ms 200] [--seconds 8] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import paho.mqtt.client as paho
from agent_overhead import clip_config

from agent.daemon import Agent
from agent.local_broker import LocalBroker
from agent.outbox import CountOutbox
from agent.pipeline import Emit
from agent.topics import CountMessage, CrossingMessage
from agent.totals import CameraTotals


class CommitInCameraThread:
    """The agent before the writer: the camera thread runs `put` itself (same interface as `CountWriter`)."""

    def __init__(self, put: Emit, capacity: int = 0) -> None:
        self._put = put
        self.waiting = 0
        self.lost = 0

    def __call__(self, message: CountMessage, crossings: Sequence[CrossingMessage], totals: CameraTotals) -> None:
        self._put(message, crossings, totals)

    def close(self, timeout_s: float) -> bool:
        return True


@contextmanager
def slow_commits(delay_s: float) -> Iterator[None]:
    commit = CountOutbox.put

    def put(self: CountOutbox, *args: object, **kwargs: object) -> CountMessage:
        time.sleep(delay_s)
        return commit(self, *args, **kwargs)  # type: ignore[arg-type]

    with mock.patch.object(CountOutbox, "put", put):
        yield


def run_once(port: int, seconds: float, writer: bool) -> dict[str, object]:
    """The agent for `seconds` of the clip; its camera's counters and the count messages received."""
    received: list[int] = []
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"bench-slow-disk-{writer}")
    client.on_message = lambda _c, _u, m: received.append(json.loads(m.payload)["seq"])
    client.connect("127.0.0.1", port)
    client.subscribe("headcount/+/+/count", qos=1)
    client.loop_start()
    with tempfile.TemporaryDirectory() as tmp:
        config = clip_config(port, "person-ssdlite", "1", "CPU", Path(tmp), realtime=True)
        stop = threading.Event()
        patch = mock.patch("agent.daemon.CountWriter", CommitInCameraThread) if not writer else None
        if patch:
            patch.start()
        try:
            agent = Agent(config, stop=stop)
            runner = threading.Thread(target=agent.run)
            runner.start()
            time.sleep(seconds)
            counters = agent.workers[0].counters()
            stop.set()
            runner.join()
        finally:
            if patch:
                patch.stop()
    time.sleep(1.0)
    client.loop_stop()
    client.disconnect()
    return {"read": counters.frames_read, "inferred": counters.frames_processed,
            "dropped": counters.frames_dropped, "counts": len(received),
            "in_order": received == list(range(len(received)))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commit-ms", type=float, default=200.0, help="added to every outbox commit")
    parser.add_argument("--seconds", type=float, default=8.0, help="of the clip per run")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    print(f"every commit slowed by {args.commit_ms:.0f} ms; vtest.avi at 10 fps, {args.seconds:.0f} s per run")
    print("| round | counts committed by | frames read | inferred | dropped | count messages | in seq order |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    with LocalBroker() as broker, slow_commits(args.commit_ms / 1000):
        for index in range(args.rounds):
            for writer in (True, False):
                r = run_once(broker.port, args.seconds, writer)
                print(f"| {index + 1} | {'the writer thread' if writer else 'the camera thread'} | {r['read']} | "
                      f"{r['inferred']} | {r['dropped']} | {r['counts']} | {r['in_order']} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
