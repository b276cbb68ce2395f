"""Real faults against the real agent: broker outages, SIGKILL, model swaps, bad commands, lost cameras."""

from __future__ import annotations

import json
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent import exit_codes
from agent.local_broker import LocalBroker
from models.lut import UNIFORM_METHOD
from models.manifest import Manifest, Provenance
from models.store import MANIFEST, ModelStore, write_manifest
from tests.helpers import ROOT, Subscriber, agent_config, finish, start_agent, write_clip

pytestmark = pytest.mark.slow


def seqs(sub: Subscriber, camera: str = "cam1") -> list[int]:
    return [m["seq"] for m in sub.json(f"/{camera}/count")]


def assert_complete_and_ordered(received: list[int]) -> None:
    """Every seq from 0 to the highest arrived, and first arrivals are in order (duplicates allowed)."""
    first_seen = list(dict.fromkeys(received))
    assert first_seen == sorted(first_seen), "messages of one camera arrived out of order"
    assert first_seen == list(range(max(received) + 1)), f"missing seq: {set(range(max(received) + 1)) - set(received)}"


def queued(config: Path) -> int:
    with sqlite3.connect(config.parent / "queue.sqlite") as db:
        return db.execute("SELECT COUNT(*) FROM messages").fetchone()[0]


def test_broker_outage_of_30_s_loses_nothing(tmp_path: Path, subscribe, sample_video, store) -> None:
    with LocalBroker() as broker:
        sub = subscribe(broker.port, "headcount/+/+/count", client_id="dashboard", clean=False)
        config = agent_config(tmp_path, broker.port, sample_video, loop=True, realtime=True)
        agent = start_agent(config)
        assert sub.wait_for(lambda s: len(s.payloads("/count")) >= 5, timeout=60)
        broker.stop()
        time.sleep(30)
        during = queued(config)
        broker.start()
        assert sub.wait_for(lambda s: max(seqs(s), default=0) >= during + 20, timeout=60)
        agent.send_signal(signal.SIGTERM)
        code, log = finish(agent, config)
    assert code == exit_codes.OK, log[-2000:]
    assert during > 0, "nothing was queued during the outage"
    assert_complete_and_ordered(seqs(sub))


def test_sigkill_while_the_broker_is_down_loses_nothing_queued(tmp_path: Path, subscribe, sample_video, store) -> None:
    with LocalBroker() as broker:
        sub = subscribe(broker.port, "headcount/+/+/count", client_id="dashboard", clean=False)
        config = agent_config(tmp_path, broker.port, sample_video, loop=True, realtime=True)
        agent = start_agent(config)
        assert sub.wait_for(lambda s: len(s.payloads("/count")) >= 3, timeout=60)
        broker.stop()
        deadline = time.monotonic() + 30
        while queued(config) < 10 and time.monotonic() < deadline:
            time.sleep(0.5)
        agent.send_signal(signal.SIGKILL)
        agent.wait()
        stranded = queued(config)
        assert stranded >= 10
        broker.start()
        agent = start_agent(config)
        assert sub.wait_for(lambda s: len(set(seqs(s))) >= max(seqs(s)) + 1 and max(seqs(s)) > stranded,
                            timeout=60)
        agent.send_signal(signal.SIGTERM)
        code, log = finish(agent, config)
    assert code == exit_codes.OK, log[-2000:]
    assert "from before the restart will be sent first" in log
    assert_complete_and_ordered(seqs(sub))


def variant(store: ModelStore, root: Path, version: str, **changes: object) -> None:
    """Copy the default model into `root` as another version, with manifest changes."""
    target = root / "person-ssdlite" / version
    shutil.copytree(store.directory("person-ssdlite", "1"), target)
    manifest = Manifest.model_validate_json((target / MANIFEST).read_text())
    write_manifest(target, manifest.model_copy(update={"version": version, **changes}))


@pytest.fixture
def swap_store(tmp_path: Path, store: ModelStore) -> Path:
    root = tmp_path / "store"
    shutil.copytree(store.directory("person-ssdlite", "1"), root / "person-ssdlite" / "1")
    variant(store, root, "2")
    variant(store, root, "cars", labels={1: "car"})
    variant(store, root, "corrupt")
    variant(store, root, "uniform-0.5", provenance=Provenance(kind="pruning", source="test", parent="person-ssdlite@1",
                                                              method=UNIFORM_METHOD))
    declared = store.read_manifest("person-ssdlite", "1").input
    variant(store, root, "shape", input=declared.model_copy(update={"shape": [d + 20 if d > 3 else d
                                                                            for d in declared.shape]}))
    data = bytearray((root / "person-ssdlite" / "corrupt" / "model.bin").read_bytes())
    data[4096] ^= 0xFF
    (root / "person-ssdlite" / "corrupt" / "model.bin").write_bytes(bytes(data))
    return root


def send(sub: Subscriber, payload: dict | bytes) -> None:
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    sub.client.publish("headcount/test-pc/cmd", data, qos=1)


def result(sub: Subscriber, request_id: str, timeout: float = 60) -> dict:
    def found(s: Subscriber) -> bool:
        return any(r.get("request_id") == request_id for r in s.json("/cmd/result"))

    assert sub.wait_for(found, timeout=timeout), f"no result for {request_id}"
    return next(r for r in sub.json("/cmd/result") if r.get("request_id") == request_id)


def test_swap_while_counting_and_every_bad_swap_is_nacked(tmp_path: Path, broker, subscribe, swap_store,
                                                          sample_video) -> None:
    sub = subscribe(broker.port)
    config = agent_config(tmp_path, broker.port, sample_video, loop=True, realtime=True, store=swap_store)
    agent = start_agent(config)
    try:
        assert sub.wait_for(lambda s: len(s.payloads("/count")) >= 3, timeout=60)
        send(sub, {"request_id": "ok-1", "action": "swap_model", "model": "person-ssdlite", "version": "2"})
        ack = result(sub, "ok-1")
        assert ack["ok"] and ack["model"] == "person-ssdlite@2" and ack["device"] == "CPU", ack
        assert ack["compile_ms"] > 0 and ack["warmup_ms"] > 0 and ack["switch_frames"]["cam1"] > 0
        assert sub.wait_for(lambda s: json.loads(s.payloads("/state")[-1])["model"] == "person-ssdlite@2")
        assert sub.wait_for(lambda s: any(c["model"] == "person-ssdlite@2" for c in s.json("/count")))

        bad = {
            "missing": ({"model": "person-ssdlite", "version": "9"}, "not found in store"),
            "corrupt": ({"model": "person-ssdlite", "version": "corrupt"}, "does not match its manifest"),
            "labels": ({"model": "person-ssdlite", "version": "cars"}, "has no label 'person'"),
            "cut": ({"model": "person-ssdlite", "version": "uniform-0.5"}, "is a latency-calibration cut"),
            "shape": ({"model": "person-ssdlite", "version": "shape"}, "manifest declares input shape"),
            "traversal": ({"model": "../../etc", "version": "1"}, "model: String should match pattern"),
            "extra": ({"model": "person-ssdlite", "version": "1", "path": "/tmp/x"}, "Extra inputs"),
            "type": ({"model": "person-ssdlite", "version": 1}, "version: Input should be a valid string"),
        }
        for request_id, (fields, _) in bad.items():
            send(sub, {"request_id": request_id, "action": "swap_model", **fields})
        for request_id, (_, reason) in bad.items():
            nack = result(sub, request_id)
            assert not nack["ok"] and reason in nack["reason"], nack
        send(sub, {"request_id": "st", "action": "status"})
        status = result(sub, "st")
        assert status["model"] == "person-ssdlite@2" and status["status"]["cameras"]["cam1"]["frames_processed"] > 0
        before = len(sub.payloads("/count"))
        assert sub.wait_for(lambda s: len(s.payloads("/count")) > before + 3), "counting stopped after nacks"
        telemetry = sub.json("/telemetry")[-1]["cameras"]["cam1"]
    finally:
        agent.send_signal(signal.SIGTERM)
        code, log = finish(agent, config)
    assert code == exit_codes.OK, log[-2000:]
    # native 10 fps: neither the good swap nor the refused ones skipped a frame
    assert telemetry["frames_dropped"] == 0, (telemetry, [t["cameras"]["cam1"] for t in sub.json("/telemetry")],
                                              log[-3000:])


def test_swap_cli_exit_status_follows_the_result(tmp_path: Path, broker, subscribe, swap_store,
                                                 sample_video) -> None:
    sub = subscribe(broker.port)
    config = agent_config(tmp_path, broker.port, sample_video, loop=True, realtime=True, store=swap_store)
    agent = start_agent(config)
    try:
        assert sub.wait_for(lambda s: len(s.payloads("/count")) >= 1, timeout=60)
        cli = [sys.executable, "-m", "agent.cli", "swap", "--config", str(config), "--timeout", "60"]
        ok = subprocess.run([*cli, "person-ssdlite@2"], capture_output=True, text=True, cwd=ROOT)
        assert ok.returncode == 0 and '"ok": true' in ok.stdout, ok.stdout + ok.stderr
        nack = subprocess.run([*cli, "person-ssdlite@9"], capture_output=True, text=True, cwd=ROOT)
        assert nack.returncode == 1 and "not found in store" in nack.stdout
        usage = subprocess.run([*cli, "../x"], capture_output=True, text=True, cwd=ROOT)
        assert usage.returncode == exit_codes.CONFIG and "NAME@VERSION" in usage.stderr
    finally:
        agent.send_signal(signal.SIGTERM)
        finish(agent, config)


def test_garbage_on_cmd_never_kills_the_agent(tmp_path: Path, broker, subscribe, sample_video, store) -> None:
    sub = subscribe(broker.port)
    config = agent_config(tmp_path, broker.port, sample_video, loop=True, realtime=True)
    agent = start_agent(config)
    try:
        assert sub.wait_for(lambda s: len(s.payloads("/count")) >= 1, timeout=60)
        for payload in [b"\xff\xfe", b"{", b"[]", b"null", b"x" * 10_000, b'{"request_id": "g1"}']:
            send(sub, payload)
        assert not result(sub, "g1")["ok"]
        assert sub.wait_for(lambda s: sum(r["request_id"] is None for r in s.json("/cmd/result")) >= 5)
        before = len(sub.payloads("/count"))
        assert sub.wait_for(lambda s: len(s.payloads("/count")) > before)
        assert agent.poll() is None
    finally:
        agent.send_signal(signal.SIGTERM)
        code, log = finish(agent, config)
    assert code == exit_codes.OK
    assert "rejected a command without a readable request_id" in log


def test_deleted_camera_source_reconnects_and_resumes(tmp_path: Path, broker, subscribe, store) -> None:
    clip = write_clip(tmp_path / "door.avi", frames=20)
    sub = subscribe(broker.port)
    config = agent_config(tmp_path, broker.port, clip, loop=True, realtime=True)
    agent = start_agent(config)
    try:
        def processed(s: Subscriber) -> int:
            return max((t["cameras"]["cam1"]["frames_processed"] for t in s.json("/telemetry")), default=0)

        assert sub.wait_for(lambda s: processed(s) > 10, timeout=60)
        hidden = clip.rename(tmp_path / "away.avi")
        assert sub.wait_for(lambda s: s.json("/telemetry")[-1]["cameras"]["cam1"]["state"] == "reconnecting",
                            timeout=30)
        stalled_at = processed(sub)
        hidden.rename(clip)
        assert sub.wait_for(lambda s: processed(s) > stalled_at + 10, timeout=60)
        assert sub.json("/telemetry")[-1]["cameras"]["cam1"]["reconnects"] >= 1
        assert agent.poll() is None
    finally:
        agent.send_signal(signal.SIGTERM)
        code, _ = finish(agent, config)
    assert code == exit_codes.OK
