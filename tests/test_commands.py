"""The command protocol: strict validation, clear reasons, and no payload can crash the handler."""

from __future__ import annotations

import json
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.commands import MAX_COMMAND_BYTES, CommandRejected, CommandResult, SetDevice, SwapModel, parse_command
from agent.control import ControlContext, Controller


def test_valid_commands_parse() -> None:
    swap = parse_command(b'{"request_id": "r1", "action": "swap_model", "model": "ssd-mobilenet", "version": "cp-2x",'
                         b' "device": "CPU"}')
    assert isinstance(swap, SwapModel) and (swap.model, swap.version, swap.device) == ("ssd-mobilenet", "cp-2x", "CPU")
    assert isinstance(parse_command(b'{"request_id": "r2", "action": "set_device", "device": "AUTO:NPU,CPU"}'),
                      SetDevice)


@pytest.mark.parametrize(
    ("payload", "request_id", "reason"),
    [
        (b"not json", None, "not valid JSON"),
        (b"[1, 2]", None, "must be a JSON object"),
        (b'{"request_id": "r", "action": "reboot"}', "r", "does not match any of the expected tags"),
        (b'{"request_id": "r", "action": "swap_model", "model": "../../etc", "version": "1"}', "r", "model"),
        (b'{"request_id": "r", "action": "swap_model", "model": "a", "version": "1", "path": "/x"}', "r", "Extra"),
        (b'{"request_id": "r", "action": "set_device", "device": "cpu; rm -rf /"}', "r", "device"),
        (b'{"request_id": 5, "action": "status"}', None, "request_id"),
        (b'{"request_id": "r", "action": "status", "pad": "' + b"x" * MAX_COMMAND_BYTES + b'"}', None, "limit"),
    ],
)
def test_invalid_commands_say_why(payload: bytes, request_id: str | None, reason: str) -> None:
    with pytest.raises(CommandRejected) as info:
        parse_command(payload)
    assert info.value.request_id == request_id and reason in info.value.reason


def controller() -> tuple[Controller, list[CommandResult]]:
    published: list[CommandResult] = []
    ctx = ControlContext(store=None, core=None, model_config=None, active=None, workers=[],  # type: ignore[arg-type]
                         publish_result=published.append, publish_state=lambda: None, status=dict)
    return Controller(ctx, threading.Event()), published


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                    lambda children: st.lists(children) | st.dictionaries(st.text(), children), max_leaves=20)
COMMANDISH = st.fixed_dictionaries(
    {}, optional={"request_id": st.text() | st.integers(), "action": st.sampled_from(["swap_model", "set_device",
                                                                                    "status", "x"]) | JSON,
                  "model": st.text(), "version": st.text(), "device": st.text() | JSON, "extra": JSON},
)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=MAX_COMMAND_BYTES + 16) | JSON.map(lambda v: json.dumps(v).encode())
       | COMMANDISH.map(lambda v: json.dumps(v).encode()))
def test_any_payload_gets_a_result_or_is_queued(payload: bytes) -> None:
    handler, published = controller()
    handler.submit(payload)  # must not raise
    queued = handler._jobs.qsize()
    assert len(published) + queued == 1
    if published:
        result = published[0]
        assert not result.ok and result.reason
        try:
            sent_id = json.loads(payload).get("request_id")
        except (ValueError, AttributeError, UnicodeDecodeError):
            sent_id = None
        if result.request_id is not None:
            assert result.request_id == sent_id
