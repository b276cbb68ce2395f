"""install-service / uninstall-service into a temporary root, through the real command line."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from agent import exit_codes
from agent.config import AgentConfig, ConfigError, load_config
from agent.service import Layout, ServiceError, check_executable, default_executable, render_unit, unit_quote
from models.store import ModelStore
from tests.helpers import ROOT, STORE


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agent.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)


def install(root: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    result = cli("install-service", "--root", str(root), *extra)
    assert result.returncode == exit_codes.OK, result.stdout + result.stderr
    return result


def snapshot(root: Path) -> dict[str, tuple[int, bytes]]:
    return {str(p.relative_to(root)): (p.stat().st_mode & 0o7777, p.read_bytes())
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_install_puts_everything_in_place(tmp_path: Path, store: ModelStore) -> None:
    layout = Layout(tmp_path)
    out = install(tmp_path).stdout
    unit = layout.unit.read_text()
    assert f"ExecStart={default_executable()} run --config ${{CREDENTIALS_DIRECTORY}}/agent.toml" in unit
    assert layout.udev_rule.read_text() == (ROOT / "systemd/99-headcount-ncs.rules").read_text()
    assert layout.sysusers.is_file()
    # secrets and camera URLs: root-only; systemd hands them to the agent
    assert (layout.config_dir / "agent.toml").stat().st_mode & 0o777 == 0o600
    assert (layout.config_dir / "headcount.env").stat().st_mode & 0o777 == 0o600
    installed = ModelStore(layout.model_store)
    assert installed.refs() == store.refs()
    for name, version in installed.refs():
        installed.load(name, version, verify=True)
    # --root never touches the running system
    assert "skip             systemctl daemon-reload" in out
    assert "run " not in out


def test_install_is_idempotent_and_never_overwrites_the_operators_config(tmp_path: Path, store) -> None:
    layout = Layout(tmp_path)
    install(tmp_path)
    config = layout.config_dir / "agent.toml"
    config.write_text("# the operator's own config\n")
    secrets = layout.config_dir / "headcount.env"
    secrets.write_text("HEADCOUNT_MQTT_PASSWORD=s3cret\n")
    before = snapshot(tmp_path)
    out = install(tmp_path).stdout
    assert snapshot(tmp_path) == before
    assert f"keep             {config}" in out and "never overwritten" in out
    assert not any(line.startswith(("write", "update", "copy", "mkdir", "replace")) for line in out.splitlines())


def test_install_repairs_a_damaged_model_and_a_stale_unit(tmp_path: Path, store) -> None:
    layout = Layout(tmp_path)
    install(tmp_path)
    (layout.model_store / "person-ssdlite/1/model.bin").write_bytes(b"truncated")
    layout.unit.write_text("[Service]\nExecStart=/old/headcount-agent run\n")
    out = install(tmp_path).stdout
    assert "replace" in out and "update" in out
    ModelStore(layout.model_store).load("person-ssdlite", "1", verify=True)
    assert str(default_executable()) in layout.unit.read_text()
    assert not [p for p in (layout.model_store / "person-ssdlite").iterdir() if p.name.startswith(".")]


def test_dry_run_changes_nothing(tmp_path: Path, store) -> None:
    out = install(tmp_path, "--dry-run").stdout
    assert "would write" in out and "would copy" in out
    assert not any(tmp_path.iterdir())


def test_uninstall_keeps_config_and_models_unless_purged(tmp_path: Path, store) -> None:
    layout = Layout(tmp_path)
    install(tmp_path)
    result = cli("uninstall-service", "--root", str(tmp_path))
    assert result.returncode == exit_codes.OK, result.stdout + result.stderr
    assert not layout.unit.exists() and not layout.udev_rule.exists() and not layout.sysusers.exists()
    assert (layout.config_dir / "agent.toml").is_file() and layout.model_store.is_dir()
    again = cli("uninstall-service", "--root", str(tmp_path))  # idempotent
    assert again.returncode == exit_codes.OK and "absent" in again.stdout
    purged = cli("uninstall-service", "--root", str(tmp_path), "--purge")
    assert purged.returncode == exit_codes.OK, purged.stdout + purged.stderr
    assert not layout.config_dir.exists() and not layout.state_dir.exists()


def test_refuses_an_executable_the_unit_cannot_see(tmp_path: Path) -> None:
    with pytest.raises(ServiceError, match="ProtectHome"):
        check_executable(Path("/home/ops/venv/bin/headcount-agent"))
    with pytest.raises(ServiceError, match="no executable headcount-agent"):
        check_executable(tmp_path / "headcount-agent")
    result = cli("install-service", "--root", str(tmp_path), "--executable", str(tmp_path / "nope"))
    assert result.returncode == exit_codes.FAILURE and "no executable headcount-agent" in result.stderr
    assert not any(tmp_path.iterdir())


def test_refuses_to_install_a_model_that_fails_its_checksums(tmp_path: Path, store) -> None:
    source = tmp_path / "store"
    variant = source / "person-ssdlite" / "1"
    variant.mkdir(parents=True)
    for item in (STORE / "person-ssdlite" / "1").iterdir():
        (variant / item.name).write_bytes(item.read_bytes())
    (variant / "model.bin").write_bytes(b"corrupt")
    result = cli("install-service", "--root", str(tmp_path / "root"), "--models", str(source))
    assert result.returncode == exit_codes.FAILURE and "broken model" in result.stderr
    assert not (tmp_path / "root").exists()


def test_exec_start_quoting() -> None:
    template = "ExecStart=/usr/local/bin/headcount-agent run\n"
    assert render_unit(template, Path("/opt/hc 1/bin/headcount-agent")) == \
        'ExecStart="/opt/hc 1/bin/headcount-agent" run\n'
    assert unit_quote(Path("/opt/100%/headcount-agent")) == "/opt/100%%/headcount-agent"
    with pytest.raises(ServiceError, match="exactly one"):
        render_unit("[Service]\n", Path("/x"))


def test_config_skeleton_needs_only_cameras(tmp_path: Path) -> None:
    skeleton = (ROOT / "systemd/agent.toml.example").read_text()
    path = tmp_path / "agent.toml"
    path.write_text(skeleton)
    with pytest.raises(ConfigError, match="cameras"):
        load_config(path, environ={})
    raw = tomllib.loads(skeleton)
    raw["cameras"] = [{"name": "entrance", "source": "rtsp://192.168.10.21:554/stream1"}]
    config = AgentConfig.model_validate(raw)
    assert config.model.store == Path("/var/lib/headcount/models")
    assert config.model.cache_dir is not None and config.model.cache_dir.is_relative_to("/var/cache/headcount")
    path.write_text(skeleton + '\n[[cameras]]\nname = "entrance"\nsource = "rtsp://192.168.10.21/s1"\n')
    loaded = load_config(path, environ={"STATE_DIRECTORY": "/var/lib/headcount"})
    assert loaded.queue.path == Path("/var/lib/headcount/queue.sqlite")
    # the commented camera examples are valid too once uncommented
    head, marker, tail = skeleton.partition("# One [[cameras]] block")
    assert marker, "the skeleton's camera examples moved"
    tail = "\n".join(line[2:] if re.match(r"# (\[\[cameras\]\]|\w+ = )", line) else line
                     for line in tail.splitlines())
    path.write_text(head + marker + tail)
    assert [c.name for c in load_config(path, environ={}).cameras] == ["entrance", "canteen"]


def test_an_explicit_store_without_variants_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = cli("install-service", "--root", str(tmp_path / "root"), "--models", str(tmp_path / "empty"))
    assert result.returncode == exit_codes.FAILURE and "no model variants" in result.stderr
