"""End to end: the real agent process, the real model on vtest.avi, a real broker and subscriber."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from agent import exit_codes
from agent.local_broker import LocalBroker, free_port
from tests.helpers import agent_config, agent_log, finish, start_agent

pytestmark = pytest.mark.slow


def test_whole_clip_counts_reach_the_subscriber(tmp_path: Path, broker, subscribe, sample_video, store) -> None:
    sub = subscribe(broker.port)
    config = agent_config(tmp_path, broker.port, sample_video)
    code, out = finish(start_agent(config), config, timeout=240)
    assert code == exit_codes.OK, out[-3000:]
    assert sub.wait_for(lambda s: b"offline" in s.payloads("/available"), timeout=10), out[-2000:]

    assert sub.payloads("/available")[0] == b"online"
    counts = sub.json("test-pc/cam1/count")
    assert counts, "no count message arrived"
    assert [c["seq"] for c in counts] == list(range(len(counts)))
    assert all(c["model"] == "person-ssdlite@1" and c["camera"] == "cam1" for c in counts)
    assert 3 <= max(c["count"] for c in counts) <= 10
    assert max(c["frame"] for c in counts) >= 700  # the whole clip went through

    state = sub.json("test-pc/state")[0]
    assert state["model"] == "person-ssdlite@1" and state["device"] == "CPU"
    telemetry = sub.json("test-pc/telemetry")
    assert telemetry, "no telemetry arrived"
    last = telemetry[-1]
    assert last["cameras"]["cam1"]["frames_processed"] == 795
    assert last["cameras"]["cam1"]["frames_dropped"] == 0  # realtime = false drops nothing
    assert last["rss_mb"] < 350  # measured 270-313 MB for one camera (docs/performance.md): a leak guard
    assert last["power_source"] == "none" or last["power_w"] is not None
    assert any(t["stages"]["infer"]["p50_ms"] for t in telemetry)


def test_sigterm_publishes_offline_and_exits_zero(tmp_path: Path, broker, subscribe, sample_video, store) -> None:
    sub = subscribe(broker.port)
    config = agent_config(tmp_path, broker.port, sample_video, loop=True, realtime=True)
    agent = start_agent(config)
    assert sub.wait_for(lambda s: len(s.payloads("/count")) >= 3, timeout=60)
    agent.send_signal(signal.SIGTERM)
    code, out = finish(agent, config)
    assert code == exit_codes.OK, out[-3000:]
    assert sub.wait_for(lambda s: s.payloads("/available")[-1:] == [b"offline"], timeout=10)


def test_unreachable_broker_at_start_is_retried(tmp_path: Path, subscribe, sample_video, store) -> None:
    port = free_port()
    config = agent_config(tmp_path, port, sample_video, loop=True, realtime=True)
    agent = start_agent(config)
    try:
        deadline = time.monotonic() + 60  # start-up (model compile) takes seconds, more on a loaded machine
        while "unreachable" not in agent_log(config) and agent.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert agent.poll() is None, "agent must keep running without a broker"
        assert "unreachable" in agent_log(config), "the agent should say the broker is unreachable"
        with LocalBroker(port=port) as broker:
            sub = subscribe(broker.port)
            assert sub.wait_for(lambda s: len(s.payloads("/count")) >= 2, timeout=40)
            agent.send_signal(signal.SIGTERM)
            code, out = finish(agent, config)
    finally:
        if agent.poll() is None:
            agent.kill()
    assert code == exit_codes.OK
    assert "unreachable" in out


def test_missing_video_reconnects_without_crashing(tmp_path: Path, broker, subscribe, store) -> None:
    sub = subscribe(broker.port)
    config = agent_config(tmp_path, broker.port, tmp_path / "nowhere.avi", loop=True)
    agent = start_agent(config)
    assert sub.wait_for(
        lambda s: any(t["cameras"]["cam1"]["state"] == "reconnecting" for t in s.json("/telemetry")), timeout=30
    )
    assert agent.poll() is None
    agent.send_signal(signal.SIGTERM)
    code, out = finish(agent, config)
    assert code == exit_codes.OK
    assert "nowhere.avi not found" in out


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"model": "no-such-model"}, "not found in store"),
        ({"version": "../../etc"}, "model.version"),
    ],
)
def test_unusable_model_exits_with_config_status(tmp_path: Path, overrides, message, sample_video) -> None:
    config = agent_config(tmp_path, free_port(), sample_video, **overrides)
    code, out = finish(start_agent(config), config)
    assert code == exit_codes.CONFIG
    assert message in out
