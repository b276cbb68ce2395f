"""`headcount-prune`: host-side commands (synth, autolabel, train, eval, export, spec).

Each command is a thin wrapper over a function on plain objects. Exit codes: 0 ok, 2 usage (argparse),
3 bad input data, 4 bad checkpoint or model, 5 store error, 1 anything else.
"""

from __future__ import annotations

import argparse
import logging
import sys

from pruning import commands

EXIT_OK, EXIT_ERROR, EXIT_DATA, EXIT_MODEL, EXIT_STORE = 0, 1, 3, 4, 5


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="headcount-prune", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, add in commands.REGISTRY.items():
        add(sub.add_parser(name, help=commands.HELP[name]))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from pruning.distributed import world_from_env

    level = logging.DEBUG if args.verbose else logging.INFO
    logging.basicConfig(level=level if world_from_env().is_main else logging.WARNING,  # torchrun: rank 0 logs
                        format="%(asctime)s %(levelname)s %(message)s")
    from models.scoring import DatasetError
    from models.store import ModelStoreError
    from pruning.checkpoint import CheckpointError

    try:
        return int(args.run(args) or EXIT_OK)
    except DatasetError as exc:
        print(f"headcount-prune: bad data: {exc}", file=sys.stderr)
        return EXIT_DATA
    except CheckpointError as exc:
        print(f"headcount-prune: bad checkpoint: {exc}", file=sys.stderr)
        return EXIT_MODEL
    except ModelStoreError as exc:
        print(f"headcount-prune: model store: {exc}", file=sys.stderr)
        return EXIT_STORE
    except (ValueError, FileNotFoundError) as exc:
        print(f"headcount-prune: {exc}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    raise SystemExit(main())
