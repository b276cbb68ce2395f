"""Config files: the example validates, bad files fail naming the field, the CLI exits 78."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent import exit_codes
from agent.cli import main
from agent.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[1]
CAMERA = '[[cameras]]\nname = "door"\nsource = "clip.avi"\n'


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(text)
    return path


def test_demo_config_is_valid() -> None:
    config = load_config(ROOT / "examples" / "demo.toml")
    assert config.cameras[0].loop is True
    assert config.model.store == ROOT / "examples" / ".." / "models"


def test_defaults_and_relative_paths(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, CAMERA))
    assert config.mqtt.prefix == "headcount" and config.mqtt.port == 1883
    assert config.model.devices[-1] == "CPU" and config.model.label == "person"
    assert config.cameras[0].source == str(tmp_path / "clip.avi")
    assert config.device_id


def test_secrets_from_environment(tmp_path: Path) -> None:
    path = write(tmp_path, '[mqtt]\nusername = "file-user"\n' + CAMERA)
    config = load_config(path, environ={"HEADCOUNT_MQTT_USERNAME": "env-user", "HEADCOUNT_MQTT_PASSWORD": "s3cret"})
    assert config.mqtt.username == "env-user" and config.mqtt.password == "s3cret"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[mqtt]\nprot = 1883\n' + CAMERA, "mqtt.prot: Extra inputs are not permitted"),
        ('[mqtt]\nport = "many"\n' + CAMERA, "mqtt.port"),
        ('[mqtt]\nport = 70000\n' + CAMERA, "mqtt.port"),
        ('[model]\nscore_threshold = 1.5\n' + CAMERA, "model.score_threshold"),
        ('[model]\nname = "../etc"\n' + CAMERA, "model.name"),
        ('device_id = "a/b"\n' + CAMERA, "device_id"),
        ("", "cameras: Field required"),
        (CAMERA + CAMERA, "camera names must be unique; repeated: door"),
        (CAMERA + 'line = { start = [0.1, 0.5], end = [0.9, 0.5], inside = [0.5, 0.5] }\n', "inside"),
        (CAMERA + 'line = { start = [0.1, 0.5], end = [1.9, 0.5], inside = [0.5, 0.9] }\n', "cameras.0.line.end"),
        (CAMERA + "zone = [[0.1, 0.1], [0.2, 0.2]]\n", "cameras.0.zone"),
        ("[[cameras]\n", "not valid TOML"),
    ],
)
def test_invalid_files_name_the_field(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    assert expected in str(info.value)
    assert str(tmp_path / "agent.toml") in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "absent.toml")


def test_check_config_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", str(write(tmp_path, CAMERA))]) == exit_codes.OK
    assert "OK" in capsys.readouterr().out
    assert main(["check-config", str(write(tmp_path, "[mqtt]\nport = 0\n" + CAMERA))]) == exit_codes.CONFIG
    assert "mqtt.port" in capsys.readouterr().err
