"""Choosing the inference device from the config's preference list and what the runtime offers.

Device strings stay free-form OpenVINO names: `CPU`, `GPU`, `GPU.1`, `NPU`, `MYRIAD` (Neural Compute
Stick, on runtimes that still ship that plugin: 2022.3 LTS was the last), and the virtual devices
`AUTO:...`, `MULTI:...`, `HETERO:...`, `BATCH:...`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

log = logging.getLogger(__name__)

VIRTUAL_DEVICES = {"AUTO", "MULTI", "HETERO", "BATCH"}
FALLBACK_DEVICE = "CPU"
# IR precisions a device cannot run. The Neural Compute Stick's MYRIAD plugin runs FP16/FP32 IRs only:
# it rejects the FakeQuantize operations an INT8 IR is made of ("unsupported layer type FakeQuantize").
UNSUPPORTED_PRECISIONS: dict[str, frozenset[str]] = {"MYRIAD": frozenset({"INT8"})}


@dataclass(frozen=True)
class DeviceChoice:
    device: str
    fell_back: bool
    reason: str


def is_available(device: str, available: list[str]) -> bool:
    """Whether `device` can run given `Core().available_devices` (e.g. ['CPU', 'GPU.0', 'NPU'])."""
    base, _, targets = device.partition(":")
    if base in VIRTUAL_DEVICES:
        members = [t.strip() for t in targets.split(",") if t.strip()]
        if not members:
            return base == "AUTO"  # AUTO alone picks among what is there
        present = [is_available(m, available) for m in members]
        # HETERO needs every member; AUTO and MULTI can do with any one of them.
        return all(present) if base in {"HETERO", "BATCH"} else any(present)
    return any(a == device or a.split(".")[0] == device for a in available)


def runs_precision(device: str, precision: str | None) -> bool:
    """Whether `device` can run an IR of `precision` (the manifest's: FP16, INT8...); None: unknown, yes."""
    base = device.partition(":")[0].split(".")[0]
    return precision is None or precision.upper() not in UNSUPPORTED_PRECISIONS.get(base, frozenset())


def choose_device(preferences: list[str], available: list[str], precision: str | None = None) -> DeviceChoice:
    """The first preferred device the runtime offers that runs an IR of `precision`, else CPU with the reason."""
    skipped = []
    for device in preferences:
        if not is_available(device, available):
            continue
        if not runs_precision(device, precision):
            skipped.append(device)
            continue
        why = f"; skipped {', '.join(skipped)}: cannot run {precision} IRs" if skipped else ""
        return DeviceChoice(device, bool(skipped), f"{device} is available{why}")
    if skipped:
        reason = (f"{', '.join(skipped)} cannot run {precision} IRs (use an FP16 variant there); "
                  f"falling back to {FALLBACK_DEVICE}")
    else:
        reason = (f"none of the preferred devices {preferences} is available (runtime offers {available}); "
                  f"falling back to {FALLBACK_DEVICE}")
    return DeviceChoice(FALLBACK_DEVICE, True, reason)


def next_device(preferences: list[str], available: list[str], failed: str,
                precision: str | None = None) -> DeviceChoice | None:
    """The next available device after `failed` in the preference list (CPU last) that runs `precision`."""
    order = list(preferences)
    if FALLBACK_DEVICE not in order:
        order.append(FALLBACK_DEVICE)
    rest = order[order.index(failed) + 1:] if failed in order else order
    for device in rest:
        if device != failed and is_available(device, available) and runs_precision(device, precision):
            return DeviceChoice(device, True, f"inference on {failed} failed; using {device}")
    return None
