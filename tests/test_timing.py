"""agent.timing on real OpenVINO (CPU): the thread-count policy, prepared inputs, timed inferences."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest

from agent.timing import (
    compile_config,
    interleaved_ms,
    ir_latency_ms,
    lut_threads,
    prepared_request,
    reported_int,
    time_inferences,
    time_interleaved,
    time_paced,
)
from models.lut import Lut


def tiny_ir(path: Path, channels: int) -> Path:
    image = ops.parameter([1, 3, 32, 32], ov.Type.f32, name="image")
    weights = ops.constant(np.random.default_rng(0).normal(size=(channels, 3, 3, 3)).astype(np.float32))
    conv = ops.convolution(image, weights, [1, 1], [1, 1], [1, 1], [1, 1])
    ov.save_model(ov.Model([ops.relu(conv)], [image], "tiny"), path)
    return path


@pytest.fixture(scope="module")
def core() -> ov.Core:
    return ov.Core()


def test_default_threads_are_the_deployments(core: ov.Core) -> None:
    config = compile_config(core, "CPU")
    assert "INFERENCE_NUM_THREADS" not in config and config["PERFORMANCE_HINT"] == "LATENCY"
    assert compile_config(core, "CPU", threads=1)["INFERENCE_NUM_THREADS"] == 1


def test_pinned_threads_are_read_back(core: ov.Core, tmp_path: Path) -> None:
    xml = tiny_ir(tmp_path / "a.xml", 4)
    compiled = core.compile_model(core.read_model(xml), "CPU", compile_config(core, "CPU", threads=1))
    assert reported_int(compiled, "INFERENCE_NUM_THREADS") == 1
    request = prepared_request(compiled)
    data = request.get_input_tensor().data
    assert data.dtype == np.float32 and 0 <= data.min() and data.max() <= 255
    samples = time_inferences(request, runs=5, warmup=1)
    assert len(samples) == 5 and all(s > 0 for s in samples)


def test_interleaved_times_every_model(core: ov.Core, tmp_path: Path) -> None:
    xmls = [tiny_ir(tmp_path / "a.xml", 4), tiny_ir(tmp_path / "b.xml", 32)]
    requests = [prepared_request(core.compile_model(core.read_model(x), "CPU")) for x in xmls]
    assert [len(s) for s in time_interleaved(requests, runs=4, warmup=1)] == [4, 4]
    assert [len(s) for s in time_interleaved(requests, runs=7, warmup=0, burst=3, burst_warmup=1)] == [7, 7]
    medians = interleaved_ms(xmls, runs=5, threads=1)
    assert len(medians) == 2 and all(ms > 0 for ms in medians)
    assert ir_latency_ms(xmls[0], runs=5, warmup=1, threads=1) > 0


def test_paced_inferences_start_one_period_apart(core: ov.Core, tmp_path: Path) -> None:
    request = prepared_request(core.compile_model(core.read_model(tiny_ir(tmp_path / "a.xml", 4)), "CPU"))
    started = time.perf_counter()
    samples = time_paced(request, runs=3, period_s=0.05)
    assert len(samples) == 3 and all(s > 0 for s in samples)
    assert time.perf_counter() - started >= 3 * 0.05  # every inference waits out its period, the last one too
    assert time_paced(request, runs=0, period_s=0.05) == []


class RecordingRequest:
    """A real infer request that notes its name in `log` at every inference."""

    def __init__(self, request: ov.InferRequest, name: str, log: list[str]) -> None:
        self.request, self.name, self.log = request, name, log

    def infer(self) -> None:
        self.log.append(self.name)
        self.request.infer()


@pytest.mark.parametrize(("runs", "burst", "burst_warmup", "turns"),
                         [(6, 3, 1, ["aaaa", "bbbb", "aaaa", "bbbb"]), (4, 3, 0, ["aaa", "bbb", "a", "b"]),
                          (2, 1, 0, ["a", "b", "a", "b"])])
def test_models_take_turns_opened_by_untimed_inferences(core: ov.Core, tmp_path: Path, runs: int, burst: int,
                                                         burst_warmup: int, turns: list[str]) -> None:
    log: list[str] = []
    requests = [RecordingRequest(prepared_request(core.compile_model(core.read_model(tiny_ir(tmp_path / f"{n}.xml", 4)),
                                                                     "CPU")), n, log) for n in "ab"]
    samples = time_interleaved(requests, runs, warmup=2, burst=burst, burst_warmup=burst_warmup)  # type: ignore[arg-type]
    assert [len(s) for s in samples] == [runs, runs]
    assert "".join(log) == "aabb" + "".join(turns)


def test_a_turn_needs_a_timed_inference() -> None:
    with pytest.raises(ValueError, match="burst >= 1"):
        time_interleaved([], runs=3, burst=0)
    assert time_interleaved([], runs=3) == []


@pytest.mark.parametrize(("threads", "expected"), [("2", 2), (None, None)])
def test_a_lut_comparison_times_with_the_luts_count(threads: str | None, expected: int | None) -> None:
    lut = Lut.model_construct(threads=threads)
    assert lut_threads(lut) == expected
    assert lut_threads(None) is None
