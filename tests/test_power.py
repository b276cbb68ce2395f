"""PowerMeter against fake sysfs trees: RAPL (wrap-around, psys preference), hwmon energy and power, no sensor."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from agent import power
from agent.power import PowerMeter

MAX_UJ = 262_143_328_850


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(power, "time", SimpleNamespace(monotonic=fake))
    return fake


def rapl_zone(sysfs: Path, zone: str, name: str, energy_uj: int, max_uj: int | None = MAX_UJ) -> Path:
    path = sysfs / "class/powercap" / zone
    path.mkdir(parents=True)
    (path / "name").write_text(name + "\n")
    (path / "energy_uj").write_text(f"{energy_uj}\n")
    if max_uj is not None:
        (path / "max_energy_range_uj").write_text(f"{max_uj}\n")
    return path


def hwmon(sysfs: Path, index: int, name: str, **files: int) -> Path:
    path = sysfs / f"class/hwmon/hwmon{index}"
    path.mkdir(parents=True)
    (path / "name").write_text(name + "\n")
    for filename, value in files.items():
        (path / filename).write_text(f"{value}\n")
    return path


@pytest.mark.parametrize(
    ("before", "after", "joules"),
    [(1_000_000, 21_000_000, 20.0), (MAX_UJ - 1_000_000, 4_000_000, 5.0)],
    ids=["plain", "wrap-around"],
)
def test_rapl_energy_and_watts(tmp_path: Path, clock: Clock, before: int, after: int, joules: float) -> None:
    zone = rapl_zone(tmp_path, "intel-rapl:0", "package-0", before)
    rapl_zone(tmp_path, "intel-rapl:0:0", "core", 5)  # a subzone: counted inside the package, never again
    meter = PowerMeter(tmp_path)
    assert meter.source == "rapl:package-0"
    mark = meter.mark()
    (zone / "energy_uj").write_text(f"{after}\n")
    clock.now += 2.0
    reading = meter.since(mark)
    assert reading.joules == pytest.approx(joules)
    assert reading.watts == pytest.approx(joules / 2.0)
    assert reading.seconds == pytest.approx(2.0)


def test_psys_is_preferred_over_packages(tmp_path: Path, clock: Clock) -> None:
    package = rapl_zone(tmp_path, "intel-rapl:0", "package-0", 0)
    psys = rapl_zone(tmp_path, "intel-rapl:1", "psys", 0)
    meter = PowerMeter(tmp_path)
    assert meter.source == "rapl:psys"
    mark = meter.mark()
    (package / "energy_uj").write_text("9000000\n")
    (psys / "energy_uj").write_text("12000000\n")
    clock.now += 4.0
    assert meter.since(mark).watts == pytest.approx(3.0)


def test_packages_are_summed(tmp_path: Path, clock: Clock) -> None:
    zones = [rapl_zone(tmp_path, f"intel-rapl:{i}", f"package-{i}", 0) for i in range(2)]
    meter = PowerMeter(tmp_path)
    mark = meter.mark()
    for zone in zones:
        (zone / "energy_uj").write_text("5000000\n")
    clock.now += 1.0
    assert meter.since(mark).joules == pytest.approx(10.0)


def test_hwmon_energy_counter(tmp_path: Path, clock: Clock) -> None:
    sensor = hwmon(tmp_path, 0, "amd_energy", energy1_input=100)
    meter = PowerMeter(tmp_path)
    assert meter.source == "hwmon:amd_energy/energy1_input"
    mark = meter.mark()
    (sensor / "energy1_input").write_text(f"{100 + 7_500_000}\n")
    clock.now += 2.5
    assert meter.since(mark).watts == pytest.approx(3.0)


def test_hwmon_power_gauge(tmp_path: Path, clock: Clock) -> None:
    hwmon(tmp_path, 0, "ina3221", power1_input=6_500_000)
    meter = PowerMeter(tmp_path)
    assert meter.source == "hwmon:ina3221/power1_input"
    mark = meter.mark()
    clock.now += 2.0
    reading = meter.since(mark)
    assert reading.watts == pytest.approx(6.5)
    assert reading.joules == pytest.approx(13.0)


def test_no_sensor_gives_null_with_reason(tmp_path: Path, clock: Clock) -> None:
    meter = PowerMeter(tmp_path)
    assert not meter.available and meter.source == "none"
    assert "no RAPL zone or hwmon" in meter.reason
    mark = meter.mark()
    clock.now += 1.0
    reading = meter.since(mark)
    assert (reading.joules, reading.watts) == (None, None)


def test_permission_denied_gives_null_with_reason(tmp_path: Path, clock: Clock,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    rapl_zone(tmp_path, "intel-rapl:0", "package-0", 0)
    real = power._read_int

    def guarded(path: Path) -> int:
        if path.name == "energy_uj":
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(power, "_read_int", guarded)
    meter = PowerMeter(tmp_path)
    assert meter.source == "none"
    assert "permission denied" in meter.reason and "energy_uj" in meter.reason
    assert meter.since(meter.mark()).watts is None


def test_counter_that_disappears_gives_null(tmp_path: Path, clock: Clock) -> None:
    zone = rapl_zone(tmp_path, "intel-rapl:0", "package-0", 0)
    meter = PowerMeter(tmp_path)
    mark = meter.mark()
    (zone / "energy_uj").unlink()
    clock.now += 1.0
    assert meter.since(mark).joules is None
