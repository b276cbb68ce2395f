"""Shared fixtures: a real Mosquitto broker, a real MQTT subscriber, the real model and footage, small clips."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agent.local_broker import LocalBroker
from models.store import ModelStore
from tests.helpers import SAMPLE_VIDEO, STORE, Subscriber, write_clip


@pytest.fixture(scope="session")
def store() -> ModelStore:
    if not (STORE / "person-ssdlite" / "1" / "manifest.json").is_file():
        pytest.fail("default model missing: run `make model` (make test does it)")
    return ModelStore(STORE)


@pytest.fixture(scope="session")
def sample_video() -> Path:
    if not SAMPLE_VIDEO.is_file():
        pytest.fail("data/vtest.avi missing: run `make video` (make test does it)")
    return SAMPLE_VIDEO


@pytest.fixture
def broker() -> Iterator[LocalBroker]:
    with LocalBroker() as running:
        yield running


@pytest.fixture
def subscribe() -> Iterator[Callable[..., Subscriber]]:
    made: list[Subscriber] = []

    def make(port: int, topic: str = "headcount/#", **kwargs: object) -> Subscriber:
        sub = Subscriber(port, topic, **kwargs)  # type: ignore[arg-type]
        made.append(sub)
        return sub

    yield make
    for sub in made:
        sub.close()


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    return write_clip(tmp_path / "clip.avi")
