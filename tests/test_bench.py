"""`headcount-agent bench` on the default model and this CPU: fields, JSON schema, outputs, MQTT, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import openvino as ov
import pytest

from agent import exit_codes
from agent.bench.report import markdown_table, plot
from agent.bench.runner import BenchSettings, bench_pair
from agent.cli import main
from agent.power import EnergyReading, PowerMark, PowerMeter
from models.bench import BenchReport, BenchResult, LatencyStats
from models.store import ModelStore
from tests.helpers import STORE, agent_config

FAST = BenchSettings(iterations=20, warmup=2, throughput_s=0.5, pipeline_runs=3, paced_runs=4, pace_fps=40)


class FixedMeter(PowerMeter):
    """A meter whose sensor reports 2 J over 0.5 s for whatever was measured."""

    def __init__(self) -> None:
        super().__init__("/nonexistent")
        self.source = "rapl:fake"

    def since(self, mark: PowerMark) -> EnergyReading:
        return EnergyReading(2.0, 4.0, 0.5)


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> BenchResult:
    stored = ModelStore(STORE).load("person-ssdlite", "1")
    frame = (np.random.default_rng(1).random((480, 640, 3)) * 255).astype(np.uint8)
    measured, _ = bench_pair(ov.Core(), stored, "CPU", frame, FixedMeter(), FAST)
    return measured


def test_fields_are_sane(result: BenchResult) -> None:
    lat = result.latency
    assert result.model == "person-ssdlite@1" and result.device == "CPU"
    assert lat.iterations == FAST.iterations
    assert 0 < lat.min_ms <= lat.p50_ms <= lat.p95_ms <= lat.p99_ms
    assert result.throughput.fps > 0 and result.throughput.requests >= 1 and result.throughput.frames > 0
    assert result.compile_s > 0 and result.first_inference_ms > 0 and result.pipeline_p50_ms > 0
    assert result.paced_p50_ms is not None and result.paced_p50_ms > 0 and result.pace_fps == FAST.pace_fps
    assert result.cpu_percent > 0 and result.peak_rss_mb > 50
    assert result.precision and result.device_name and result.openvino == ov.get_version()
    assert result.threads is not None and result.threads >= 1
    assert result.energy_per_inference_j == pytest.approx(2.0 / FAST.iterations)
    assert result.avg_power_w == pytest.approx(4.0) and result.power_reason is None
    assert not result.latency_in_turns


def test_json_round_trips_through_the_schema(result: BenchResult) -> None:
    report = BenchReport(host="h", cpu_count=2, results=[result])
    assert BenchReport.model_validate_json(report.model_dump_json()) == report
    assert BenchResult.model_validate_json(result.to_json()) == result
    assert "latency" in BenchReport.model_json_schema()["$defs"]["BenchResult"]["properties"]


def test_percentiles_must_be_ordered() -> None:
    with pytest.raises(ValueError, match="p50 <= p95 <= p99"):
        LatencyStats(iterations=3, p50_ms=2.0, p95_ms=1.0, p99_ms=3.0, mean_ms=2.0, min_ms=1.0)


def test_table_and_plot(result: BenchResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    no_sensor = result.model_copy(update={"energy_per_inference_j": None, "avg_power_w": None,
                                          "power_source": "none", "power_reason": "no RAPL zone"})
    table = markdown_table([result, no_sensor])
    rows = [line for line in table.splitlines() if line.startswith("| person-ssdlite@1 | CPU")]
    assert len(rows) == 2 and f"{result.latency.p50_ms:.2f}" in rows[0] and "n/a" in rows[1]
    assert "Energy and power n/a: CPU: no RAPL zone." in table
    assert plot([result], tmp_path / "bench.png") is None
    assert (tmp_path / "bench.png").read_bytes()[:4] == b"\x89PNG"
    monkeypatch.setitem(__import__("sys").modules, "matplotlib", None)
    assert "matplotlib is not installed" in plot([result], tmp_path / "none.png")
    assert not (tmp_path / "none.png").exists()


def test_cli_writes_outputs_and_publishes(tmp_path: Path, broker, subscribe) -> None:  # noqa: ANN001
    subscriber = subscribe(broker.port, "headcount/test-pc/#")
    config = agent_config(tmp_path, broker.port, "0")
    out = {name: tmp_path / name for name in ("bench.json", "bench.md", "bench.png")}
    code = main(["bench", "--store", str(STORE), "--models", "person-ssdlite@1", "--devices", "CPU",
                 "--iterations", "10", "--warmup", "1", "--throughput-s", "0.3", "--paced-runs", "0",
                 "--config", str(config),
                 "--sysfs", str(tmp_path), "--json", str(out["bench.json"]), "--markdown", str(out["bench.md"]),
                 "--plot", str(out["bench.png"])])
    assert code == exit_codes.OK
    report = BenchReport.model_validate_json(out["bench.json"].read_text())
    (measured,) = report.results
    assert measured.energy_per_inference_j is None and "no RAPL zone" in measured.power_reason
    assert measured.paced_p50_ms is None and measured.pace_fps is None  # --paced-runs 0
    assert "| person-ssdlite@1 | CPU |" in out["bench.md"].read_text()
    assert out["bench.png"].stat().st_size > 1000
    assert subscriber.wait_for(lambda s: s.payloads("/bench"), timeout=10)
    assert BenchResult.model_validate(json.loads(subscriber.payloads("/bench")[0])) == measured
    assert not subscriber.payloads("/available")  # the bench never touches the agent's availability


def test_turns_times_every_variant_of_a_device_in_turns(tmp_path: Path) -> None:
    models = ["person-ssdlite@1", "ssd-mobilenet@cp-4.7x"]
    code = main(["bench", "--store", str(STORE), "--models", *models, "--devices", "CPU", "--turns", "--turn-runs",
                 "15", "--iterations", "40", "--warmup", "1", "--throughput-s", "0.3", "--paced-runs", "0", "--sysfs",
                 str(tmp_path), "--json", str(tmp_path / "bench.json"), "--markdown", str(tmp_path / "md")])
    assert code == exit_codes.OK
    results = BenchReport.model_validate_json((tmp_path / "bench.json").read_text()).results
    assert [r.model for r in results] == models
    for measured in results:
        assert measured.latency_in_turns and measured.latency.iterations == 40
        assert measured.energy_per_inference_j is None and "in turns" in measured.power_reason
        assert measured.throughput.fps > 0 and measured.pipeline_p50_ms > 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [(["--models", "ghost@1"], "model ghost@1 not found"), (["--models", "bad"], "not of the form NAME@VERSION"),
     (["--devices", "NOPE"], "--devices: NOPE not available"), (["--frame", "/nonexistent.png"], "not a readable")],
)
def test_bad_input_exits_78(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--store", str(STORE), *argv]) == exit_codes.CONFIG
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(("option", "value", "message"),
                         [("--paced-runs", "-1", "expected 0 (none) or a number of runs"),
                          ("--pace-fps", "0", "must be above 0"), ("--turn-runs", "0", "must be at least 1")])
def test_bad_pacing_is_refused_before_anything_runs(option: str, value: str, message: str,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["bench", "--store", str(STORE), option, value])
    assert exited.value.code == 2 and message in capsys.readouterr().err
