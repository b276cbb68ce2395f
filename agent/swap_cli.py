"""`headcount-agent swap` and `headcount-agent command`: send a command to a running agent, wait for its result.

    headcount-agent swap --config FILE MODEL@VERSION [--device D] [--timeout S]
    headcount-agent command --config FILE status

The exit status comes from the result: 0 ack, 1 nack or no answer in time, 78 bad arguments or config.
"""

from __future__ import annotations

import argparse
import json
import queue
import sys
import uuid
from collections.abc import Callable, Mapping

import paho.mqtt.client as paho

from agent import exit_codes
from agent.commands import CommandRejected, CommandResult, parse_command
from agent.config import AgentConfig, ConfigError, MqttConfig, load_config
from agent.mqtt import make_client
from agent.topics import Topics
from models.store import ModelStoreError, parse_ref


def send_command(mqtt: MqttConfig, topics: Topics, command: dict, timeout_s: float,
                 listen: Mapping[str, Callable[[bytes], None]] | None = None,
                 then: Callable[[CommandResult], None] | None = None) -> CommandResult | None:
    """Publish `command` on the agent's cmd topic and wait for the result with its request_id.

    Args:
        listen: topic -> callback, subscribed before the command is sent; retained messages are skipped,
            so only what the agent publishes from now on is seen (e.g. the snapshot a command asks for).
        then: runs with the result while the connection is still open (to wait for a `listen` message).
    """
    results: queue.Queue[CommandResult] = queue.Queue()
    client = make_client(mqtt, client_id=f"headcount-cli-{uuid.uuid4().hex[:8]}")
    for topic, callback in (listen or {}).items():
        client.message_callback_add(
            topic, lambda _c, _u, m, cb=callback: None if m.retain else cb(m.payload))  # type: ignore[misc]

    def on_connect(c: paho.Client, _u: object, _f: object, reason: paho.ReasonCode, _p: object) -> None:
        if not reason.is_failure:
            for topic in (listen or {}):
                c.subscribe(topic, qos=1)
            c.subscribe(topics.name("cmd_result"), qos=1)
            c.publish(topics.name("cmd"), json.dumps(command).encode(), qos=1)

    def on_message(_c: paho.Client, _u: object, message: paho.MQTTMessage) -> None:
        try:
            result = CommandResult.model_validate_json(message.payload)
        except ValueError:
            return
        if result.request_id == command["request_id"]:
            results.put(result)

    client.on_connect = on_connect
    client.on_message = on_message
    client.connect_async(mqtt.host, mqtt.port, keepalive=mqtt.keepalive_s)
    client.loop_start()
    try:
        result = results.get(timeout=timeout_s)
    except queue.Empty:
        return None
    else:
        if then is not None:
            then(result)
        return result
    finally:
        client.disconnect()
        client.loop_stop()


def prepare(config_path: str, command: dict) -> tuple[AgentConfig, Topics] | int:
    """The agent's config and topics, with `command` checked as the agent would; an exit status if unusable."""
    try:
        config = load_config(config_path)
        parse_command(json.dumps(command).encode())
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return exit_codes.CONFIG
    except CommandRejected as exc:
        print(f"error: {exc.reason}", file=sys.stderr)
        return exit_codes.CONFIG
    return config, Topics(config.mqtt.prefix, config.device_id)


def _run(args: argparse.Namespace, command: dict) -> int:
    prepared = prepare(args.config, command)
    if isinstance(prepared, int):
        return prepared
    config, topics = prepared
    result = send_command(config.mqtt, topics, command, args.timeout)
    if result is None:
        print(f"no result from {topics.base} within {args.timeout:.0f} s (is the agent running and connected?)",
              file=sys.stderr)
        return exit_codes.FAILURE
    print(result.model_dump_json(indent=2, exclude_none=True))
    return exit_codes.OK if result.ok else exit_codes.FAILURE


def cmd_swap(args: argparse.Namespace) -> int:
    try:
        name, version = parse_ref(args.model)
    except ModelStoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exit_codes.CONFIG
    command = {"request_id": uuid.uuid4().hex, "action": "swap_model", "model": name, "version": version}
    if args.device:
        command["device"] = args.device
    return _run(args, command)


def cmd_command(args: argparse.Namespace) -> int:
    command = {"request_id": uuid.uuid4().hex, "action": args.action}
    if args.action == "set_device":
        if not args.device:
            print("error: set_device needs --device", file=sys.stderr)
            return exit_codes.CONFIG
        command["device"] = args.device
    return _run(args, command)


def register(sub: argparse._SubParsersAction) -> None:
    swap = sub.add_parser("swap", help="swap the running model of an agent (via its broker)")
    swap.add_argument("--config", required=True, help="the agent's config (for broker and topics)")
    swap.add_argument("model", help="MODEL@VERSION in the agent's store")
    swap.add_argument("--device", help="OpenVINO device (default: the agent's preference list)")
    swap.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the result")
    swap.set_defaults(func=cmd_swap)

    command = sub.add_parser("command", help="send set_device or status to an agent and print the result")
    command.add_argument("--config", required=True, help="the agent's config (for broker and topics)")
    command.add_argument("action", choices=["status", "set_device"])
    command.add_argument("--device", help="for set_device")
    command.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the result")
    command.set_defaults(func=cmd_command)
