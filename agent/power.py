"""Power from the machine's own sensors: Linux RAPL (powercap) and hwmon. Never an invented number.

Energy counters (RAPL `energy_uj`, hwmon `energy*_input`) give exact averages between two readings,
including counter wrap-around; hwmon `power*_input` gives an instantaneous reading. The sysfs root is a
parameter so tests feed a fake tree. Without a readable sensor the meter says so: `source == "none"`
and `reason` tells why.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


def _read_int(path: Path) -> int:
    return int(path.read_text().strip())


@dataclass(frozen=True)
class EnergyCounter:
    """A monotonically increasing energy counter in microjoules that wraps at `max_uj`."""

    name: str
    path: Path
    max_uj: int | None

    def read_uj(self) -> int:
        return _read_int(self.path)

    def delta_uj(self, before: int, after: int) -> int:
        if after >= before:
            return after - before
        if self.max_uj:  # wrapped once since `before`
            return self.max_uj - before + after
        return 0


@dataclass(frozen=True)
class PowerGauge:
    """An instantaneous power reading in microwatts (hwmon power*_input / power*_average)."""

    name: str
    path: Path

    def read_uw(self) -> int:
        return _read_int(self.path)


def find_rapl(sysfs: Path) -> list[EnergyCounter]:
    """Top-level RAPL zones: psys alone if present (it includes the packages), else the packages."""
    zones = []
    for zone in sorted((sysfs / "class/powercap").glob("*-rapl:*")):
        if zone.name.count(":") != 1 or not (zone / "energy_uj").exists():
            continue
        name = (zone / "name").read_text().strip() if (zone / "name").exists() else zone.name
        max_uj = _read_int(zone / "max_energy_range_uj") if (zone / "max_energy_range_uj").exists() else None
        zones.append(EnergyCounter(name, zone / "energy_uj", max_uj))
    psys = [z for z in zones if z.name == "psys"]
    return psys or zones


def find_hwmon(sysfs: Path) -> tuple[list[EnergyCounter], list[PowerGauge]]:
    counters, gauges = [], []
    for hwmon in sorted((sysfs / "class/hwmon").glob("hwmon*")):
        label = (hwmon / "name").read_text().strip() if (hwmon / "name").exists() else hwmon.name
        for energy in sorted(hwmon.glob("energy*_input")):
            counters.append(EnergyCounter(f"{label}/{energy.name}", energy, None))
        for power in sorted(hwmon.glob("power*_input")) or sorted(hwmon.glob("power*_average")):
            gauges.append(PowerGauge(f"{label}/{power.name}", power))
    return counters, gauges


@dataclass(frozen=True)
class PowerMark:
    at: float
    energies_uj: tuple[int, ...]


@dataclass(frozen=True)
class EnergyReading:
    joules: float | None
    watts: float | None
    seconds: float


class PowerMeter:
    """Average power and energy between two moments, from the best sensor available."""

    def __init__(self, sysfs_root: Path | str = "/sys") -> None:
        root = Path(sysfs_root)
        self.counters: list[EnergyCounter] = []
        self.gauges: list[PowerGauge] = []
        self.source = "none"
        self.reason = "no RAPL zone or hwmon power/energy sensor found"
        rapl = find_rapl(root)
        hw_counters, hw_gauges = find_hwmon(root)
        for kind, counters in (("rapl", rapl), ("hwmon", hw_counters)):
            if counters and self._readable(counters):
                self.counters = counters
                self.source = f"{kind}:" + "+".join(c.name for c in counters)
                return
        if hw_gauges and self._readable(hw_gauges):
            self.gauges = hw_gauges
            self.source = "hwmon:" + "+".join(g.name for g in hw_gauges)

    def _readable(self, sensors: list) -> bool:
        try:
            for sensor in sensors:
                sensor.read_uj() if isinstance(sensor, EnergyCounter) else sensor.read_uw()
            return True
        except PermissionError:
            self.reason = f"{sensors[0].path}: permission denied (RAPL needs root or a udev rule)"
        except (OSError, ValueError) as exc:
            self.reason = f"{sensors[0].path}: unreadable ({exc})"
        return False

    @property
    def available(self) -> bool:
        return self.source != "none"

    def mark(self) -> PowerMark:
        try:
            energies = tuple(c.read_uj() for c in self.counters)
        except (OSError, ValueError):
            energies = ()
        return PowerMark(time.monotonic(), energies)

    def since(self, mark: PowerMark) -> EnergyReading:
        """Energy and average power from `mark` to now; None where no sensor is readable."""
        now = self.mark()
        seconds = max(now.at - mark.at, 1e-9)
        if self.counters and len(now.energies_uj) == len(mark.energies_uj) == len(self.counters):
            uj = sum(c.delta_uj(b, a) for c, b, a in zip(self.counters, mark.energies_uj, now.energies_uj, strict=True))
            return EnergyReading(uj / 1e6, uj / 1e6 / seconds, seconds)
        if self.gauges:
            try:
                watts = sum(g.read_uw() for g in self.gauges) / 1e6
            except (OSError, ValueError):
                return EnergyReading(None, None, seconds)
            return EnergyReading(watts * seconds, watts, seconds)
        return EnergyReading(None, None, seconds)
