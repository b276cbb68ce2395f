"""`headcount-agent`: the device-side command line.

    headcount-agent run --config FILE              count people and report over MQTT until stopped
    headcount-agent check-config FILE              validate a config file and exit
    headcount-agent swap --config FILE M@V         swap a running agent's model, wait for the result
    headcount-agent command --config FILE status   ask a running agent what it runs
    headcount-agent snapshot --config FILE --camera C --out F.jpg   save a camera's annotated snapshot
    headcount-agent bench / profile                measure models and devices (see --help of each)
    headcount-agent count --config FILE            run a clip through the counting path, score it vs hand labels
    headcount-agent install-service                install the systemd unit (see README)
    headcount-agent schema {config,topics,commands,manifest}   print JSON Schemas
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from agent import __version__, exit_codes
from agent.bench.cli import register as register_bench
from agent.config import AgentConfig, ConfigError, load_config
from agent.count_cli import register as register_count
from agent.profile.cli import register as register_profile
from agent.redact import RedactingFilter
from agent.service import register as register_service
from agent.snapshot_cli import register as register_snapshot
from agent.swap_cli import register as register_swap

log = logging.getLogger("agent")

Command = Callable[[argparse.Namespace], int]


class JournalFormatter(logging.Formatter):
    """Prefix every line with its syslog priority (`<4>`), which journald reads from a service's stderr,
    so `journalctl -p warning` works."""

    PRIORITIES = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{self.PRIORITIES.get(record.levelno, 6)}>"
        return "\n".join(prefix + line for line in super().format(record).splitlines())


def setup_logging(verbose: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if os.environ.get("JOURNAL_STREAM"):  # journald stamps every line and reads the priority prefix
        handler.setFormatter(JournalFormatter("%(levelname)s %(name)s: %(message)s"))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())  # behind `redact_source`: no URL credentials in any log line
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler])


def cmd_run(args: argparse.Namespace) -> int:
    from agent.daemon import Agent, ModelUnusable, install_signal_handlers

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        log.error("%s", exc)
        return exit_codes.CONFIG
    stop = threading.Event()
    install_signal_handlers(stop)
    agent = Agent(config, Path(args.config).read_bytes(), stop)
    try:
        return agent.run()
    except ModelUnusable as exc:
        log.error("model: %s", exc)
        return exit_codes.CONFIG


def cmd_check_config(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.file)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return exit_codes.CONFIG
    print(f"{args.file}: OK ({len(config.cameras)} camera(s), model {config.model.name}@{config.model.version})")
    return exit_codes.OK


def cmd_schema(args: argparse.Namespace) -> int:
    if args.what == "config":
        schema = AgentConfig.model_json_schema()
    elif args.what == "commands":
        from agent.commands import COMMAND_ADAPTER, CommandResult

        schema = {"command": COMMAND_ADAPTER.json_schema(), "result": CommandResult.model_json_schema()}
    elif args.what == "topics":
        from agent.topics import payload_schemas

        schema = payload_schemas()
    else:
        from models.manifest import Manifest

        schema = Manifest.model_json_schema()
    print(json.dumps(schema, indent=2))
    return exit_codes.OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="headcount-agent", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="count people and report over MQTT until stopped")
    run.add_argument("--config", required=True, help="agent config (TOML)")
    run.set_defaults(func=cmd_run)

    check = sub.add_parser("check-config", help="validate a config file")
    check.add_argument("file")
    check.set_defaults(func=cmd_check_config)

    schema = sub.add_parser("schema", help="print a JSON Schema")
    schema.add_argument("what", choices=["config", "topics", "commands", "manifest"])
    schema.set_defaults(func=cmd_schema)

    register_service(sub)
    register_swap(sub)
    register_snapshot(sub)
    register_profile(sub)
    register_bench(sub)
    register_count(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    func: Command = args.func
    return func(args)


if __name__ == "__main__":
    raise SystemExit(main())
