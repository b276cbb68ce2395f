"""The background compile: a nice-19 child fills OpenVINO's cache, or says why it could not."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from agent.precompile import precompile
from tests.helpers import STORE


@pytest.mark.parametrize("has_nice", [True, False])
def test_the_child_fills_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, has_nice: bool) -> None:
    """Through nice(1), or where a system lacks it, lowered by the child's own os.nice."""
    if not has_nice:
        monkeypatch.setattr("agent.precompile.shutil.which", lambda _name: None)
    assert precompile(STORE, "person-ssdlite", "1", "CPU", tmp_path, "LATENCY")
    assert any(p.suffix == ".blob" for p in tmp_path.iterdir()), list(tmp_path.iterdir())


def test_a_failed_child_is_reported_and_the_caller_compiles_itself(tmp_path: Path,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert not precompile(STORE, "person-ssdlite", "9", "CPU", tmp_path, "LATENCY")
    assert "background compile of person-ssdlite@9 failed; compiling in-process" in caplog.text
    assert "not found in store" in caplog.text
