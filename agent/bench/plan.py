"""Which (model, device) pairs a bench run measures: checked before anything is compiled."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import openvino as ov

from agent.devices import is_available
from models.store import ModelStore, ModelStoreError, StoredModel, parse_ref


class PlanError(ValueError):
    """A requested model or device cannot be benched; the message names it."""


@dataclass(frozen=True)
class Pair:
    stored: StoredModel
    device: str


def plan(args: argparse.Namespace, core: ov.Core | None = None) -> list[Pair]:
    """Every chosen variant (default: all in the store) times every chosen device (default: all available)."""
    store = ModelStore(args.store)
    try:
        refs = [parse_ref(ref) for ref in args.models] if args.models else store.refs()
        if not refs:
            raise PlanError(f"--store {args.store}: no model variants found")
        models = [store.load(name, version) for name, version in refs]
    except ModelStoreError as exc:
        raise PlanError(str(exc)) from exc
    available = list((core or ov.Core()).available_devices)
    devices = args.devices or available
    missing = [d for d in devices if not is_available(d, available)]
    if missing:
        raise PlanError(f"--devices: {', '.join(missing)} not available (runtime offers {', '.join(available)})")
    return [Pair(model, device) for model in models for device in devices]
