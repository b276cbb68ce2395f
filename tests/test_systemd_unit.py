"""The shipped unit: systemd's own checks (`systemd-analyze verify`, `security --offline=yes` <= 2.0), its
consistency with the agent's exit codes and the other packaging files, and, where systemd runs services
on this machine, the real unit started and stopped."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from agent import exit_codes
from agent.service import (
    HIDDEN_BY_PROTECT_HOME,
    SYSTEMD_SOURCES,
    TEMPLATE_EXECUTABLE,
    UNIT_NAME,
    default_executable,
    render_unit,
)
from tests.helpers import ROOT, SAMPLE_VIDEO, agent_config

MAX_EXPOSURE = 2.0
TEMPLATE = SYSTEMD_SOURCES / UNIT_NAME


def systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        pytest.fail("systemd-analyze not found: install Debian's `systemd` package (make test's system-deps "
                    "step does: apt-get install systemd)")
    return found


def directives(unit_text: str) -> dict[str, list[str]]:
    """`Key=value` lines of a unit, every value kept (keys like DeviceAllow= repeat)."""
    found: dict[str, list[str]] = {}
    for line in unit_text.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")) and "=" in line:
            key, value = line.split("=", 1)
            found.setdefault(key.strip(), []).append(value.strip())
    return found


@pytest.fixture
def rendered(tmp_path: Path) -> Path:
    """The unit as install-service writes it (ExecStart= at this environment's headcount-agent)."""
    path = tmp_path / UNIT_NAME
    path.write_text(render_unit(TEMPLATE.read_text(), default_executable()))
    return path


def exposure(unit: Path) -> tuple[float, str]:
    result = subprocess.run([systemd_analyze(), "security", "--offline=yes", "--no-pager", str(unit)],
                            capture_output=True, text=True, timeout=60)
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert match, f"no exposure score in systemd-analyze output:\n{result.stdout}\n{result.stderr}"
    return float(match.group(1)), result.stdout


def test_systemd_analyze_verify_accepts_the_rendered_unit(rendered: Path) -> None:
    result = subprocess.run([systemd_analyze(), "verify", "--no-pager", str(rendered)],
                            capture_output=True, text=True, timeout=60)
    complaints = [line for line in (result.stdout + result.stderr).splitlines() if UNIT_NAME in line]
    assert result.returncode == 0 and not complaints, result.stdout + result.stderr


@pytest.mark.parametrize("which", ["template", "rendered"])
def test_security_exposure_at_most_2(which: str, rendered: Path) -> None:
    score, report = exposure(TEMPLATE if which == "template" else rendered)
    assert score <= MAX_EXPOSURE, f"exposure {score} > {MAX_EXPOSURE}; open items:\n" + "\n".join(
        line for line in report.splitlines() if line.startswith("✗"))


def test_exec_start_runs_this_environments_agent_with_the_config_credential(rendered: Path) -> None:
    unit = directives(rendered.read_text())
    executable = str(default_executable())
    assert unit["ExecStart"] == [f"{executable} run --config ${{CREDENTIALS_DIRECTORY}}/agent.toml"]
    assert unit["LoadCredential"] == ["agent.toml:/etc/headcount/agent.toml"]
    assert directives(TEMPLATE.read_text())["ExecStart"][0].startswith(f"{TEMPLATE_EXECUTABLE} run ")


def test_lifecycle_matches_the_agents_exit_codes() -> None:
    unit = directives(TEMPLATE.read_text())
    assert unit["Type"] == ["notify"] and unit["NotifyAccess"] == ["main"]
    assert unit["Restart"] == ["on-failure"]
    prevented = " ".join(unit["RestartPreventExitStatus"]).split()
    assert str(exit_codes.CONFIG) in prevented, "a broken config must not restart forever"
    assert str(exit_codes.STALLED) not in prevented, "an inference stall must restart"
    assert int(unit["WatchdogSec"][0]) >= 10
    assert {"ConfigurationDirectory", "StateDirectory"} <= unit.keys()
    assert unit["StateDirectory"] == ["headcount"] and unit["ConfigurationDirectory"] == ["headcount"]


def test_openvino_and_device_access_stay_possible() -> None:
    unit = directives(TEMPLATE.read_text())
    assert unit["MemoryDenyWriteExecute"] == ["no"], "OpenVINO's CPU plugin executes JIT-compiled code"
    families = set(unit["RestrictAddressFamilies"][0].split())
    assert {"AF_INET", "AF_INET6", "AF_UNIX"} <= families
    assert unit["DevicePolicy"] == ["closed"]
    assert set(unit["DeviceAllow"]) == {"char-usb_device rw", "char-video4linux rw", "char-drm rw", "char-accel rw"}
    assert unit.get("PrivateDevices", ["no"]) == ["no"] and unit.get("ProcSubset", ["all"]) == ["all"]
    assert unit["CapabilityBoundingSet"] == [""] and unit["NoNewPrivileges"] == ["yes"]


def test_user_udev_rule_and_sysusers_agree() -> None:
    unit = directives(TEMPLATE.read_text())
    user = unit["User"][0]
    sysusers = (SYSTEMD_SOURCES / "headcount.sysusers.conf").read_text()
    assert re.search(rf"^u {user} ", sysusers, re.M), "sysusers.d must create the unit's User="
    assert {"video", "render"} <= set(re.findall(rf"^m {user} (\S+)$", sysusers, re.M)), "camera, GPU, NPU groups"
    rules = (SYSTEMD_SOURCES / "99-headcount-ncs.rules").read_text()
    assert 'ATTRS{idVendor}=="03e7"' in rules and f'GROUP="{unit["Group"][0]}"' in rules
    assert f"chgrp {unit['Group'][0]} " in rules


def test_systemd_sysusers_creates_the_user_and_its_device_groups(tmp_path: Path) -> None:
    sysusers = shutil.which("systemd-sysusers")
    if sysusers is None:
        pytest.fail("systemd-sysusers not found: install Debian's `systemd` package")
    (tmp_path / "etc").mkdir()
    result = subprocess.run([sysusers, f"--root={tmp_path}", str(SYSTEMD_SOURCES / "headcount.sysusers.conf")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    passwd = (tmp_path / "etc/passwd").read_text()
    assert re.search(r"^headcount:x:\d+:\d+:Headcount agent:/var/lib/headcount:/usr/sbin/nologin$", passwd, re.M)
    groups = {line.split(":")[0]: line.split(":")[3].split(",") for line in
              (tmp_path / "etc/group").read_text().splitlines()}
    assert "headcount" in groups["video"] and "headcount" in groups["render"]


# ---- the real unit, where systemd runs services -----------------------------------------------------------
def systemd_runs_services() -> str | None:
    """None if this machine can start system units, else why not."""
    if not Path("/run/systemd/system").is_dir():
        return "systemd is not the service manager here (no /run/systemd/system; usual in containers)"
    if os.geteuid() != 0:
        return "starting a system unit needs root"
    state = subprocess.run(["systemctl", "is-system-running"], capture_output=True, text=True).stdout.strip()
    if state not in {"running", "degraded"}:
        return f"systemctl is-system-running says {state!r}"
    if any(hidden in ROOT.parents for hidden in HIDDEN_BY_PROTECT_HOME):
        return f"the checkout {ROOT} lies where the unit cannot see it (ProtectHome=yes)"
    return None


@pytest.mark.slow
@pytest.mark.skipif(systemd_runs_services() is not None, reason=str(systemd_runs_services()))
def test_real_unit_starts_ready_and_stops_cleanly(tmp_path: Path, broker, store) -> None:
    """The shipped unit (hardening included) with a test config: `systemctl start` returns only after
    READY=1; stop ends in result `success`. Runs as a dynamic user, as the headcount user may not exist."""
    name = f"headcount-test-{uuid.uuid4().hex[:8]}.service"
    config = agent_config(tmp_path, broker.port, SAMPLE_VIDEO, loop=True, realtime=True)
    text = render_unit(TEMPLATE.read_text(), default_executable())
    text = re.sub(r"^(User|Group)=.*$", "", text, flags=re.M)
    text = text.replace("LoadCredential=agent.toml:/etc/headcount/agent.toml",
                        f"LoadCredential=agent.toml:{config}\nDynamicUser=yes")
    text = re.sub(r"^(Configuration|State|Cache)Directory=headcount$", r"\1Directory=" + name[:-8], text, flags=re.M)
    unit = Path("/run/systemd/system") / name
    unit.write_text(text)

    def systemctl(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["systemctl", *args], capture_output=True, text=True, timeout=120)

    try:
        assert systemctl("daemon-reload").returncode == 0
        started = systemctl("start", name)
        journal = subprocess.run(["journalctl", "-u", name, "--no-pager", "-n", "50"], capture_output=True,
                                 text=True).stdout
        assert started.returncode == 0, started.stderr + journal
        shown = systemctl("show", name, "-p", "ActiveState", "-p", "StatusText").stdout
        assert "ActiveState=active" in shown and "person-ssdlite@1" in shown, shown
        assert systemctl("stop", name).returncode == 0
        result = systemctl("show", name, "-p", "Result", "-p", "ExecMainStatus").stdout
        assert "Result=success" in result and "ExecMainStatus=0" in result, result
    finally:
        systemctl("stop", name)
        systemctl("clean", "--what=all", name)  # the dynamic user's state, cache and config directories
        unit.unlink(missing_ok=True)
        systemctl("daemon-reload")
        systemctl("reset-failed", name)
