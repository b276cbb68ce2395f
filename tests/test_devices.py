"""Device choice from a preference list against what the runtime offers (a device list stand-in)."""

from __future__ import annotations

import openvino as ov
import pytest

from agent.devices import choose_device, is_available, next_device, runs_precision

ON_NCS_PC = ["CPU", "MYRIAD"]
ON_LAPTOP = ["CPU", "GPU.0", "GPU.1", "NPU"]


@pytest.mark.parametrize(
    ("device", "available", "expected"),
    [
        ("CPU", ["CPU"], True),
        ("GPU", ON_LAPTOP, True),
        ("GPU.1", ON_LAPTOP, True),
        ("GPU.2", ON_LAPTOP, False),
        ("MYRIAD", ON_LAPTOP, False),
        ("MYRIAD", ON_NCS_PC, True),
        ("AUTO", ["CPU"], True),
        ("AUTO:NPU,CPU", ["CPU"], True),
        ("AUTO:NPU", ["CPU"], False),
        ("HETERO:GPU,CPU", ON_LAPTOP, True),
        ("HETERO:MYRIAD,CPU", ON_LAPTOP, False),
    ],
)
def test_is_available(device: str, available: list[str], expected: bool) -> None:
    assert is_available(device, available) is expected


def test_first_available_preference_wins() -> None:
    choice = choose_device(["MYRIAD", "NPU", "GPU", "CPU"], ON_LAPTOP)
    assert (choice.device, choice.fell_back) == ("NPU", False)


def test_fallback_to_cpu_says_why() -> None:
    choice = choose_device(["MYRIAD", "NPU"], ["CPU"])
    assert choice.device == "CPU" and choice.fell_back
    assert "MYRIAD" in choice.reason and "falling back to CPU" in choice.reason


def test_next_device_after_failure() -> None:
    assert next_device(["NPU", "GPU", "CPU"], ON_LAPTOP, "NPU").device == "GPU"
    assert next_device(["GPU"], ON_LAPTOP, "GPU").device == "CPU"
    assert next_device(["CPU"], ["CPU"], "CPU") is None


def test_real_runtime_offers_cpu() -> None:
    assert choose_device(["MYRIAD", "NPU", "CPU"], ov.Core().available_devices).device == "CPU"


WITH_STICK = ["CPU", "GPU", "MYRIAD"]


@pytest.mark.parametrize(
    ("precision", "expected", "fell_back"),
    [("FP16", "MYRIAD", False), (None, "MYRIAD", False), ("INT8", "GPU", True), ("int8", "GPU", True)],
)
def test_stick_is_skipped_for_int8_irs(precision: str | None, expected: str, fell_back: bool) -> None:
    choice = choose_device(["MYRIAD", "GPU", "CPU"], WITH_STICK, precision)
    assert (choice.device, choice.fell_back) == (expected, fell_back)
    if fell_back:
        assert "skipped MYRIAD" in choice.reason and "INT8" in choice.reason.upper()


def test_int8_with_only_a_stick_preferred_falls_back_to_cpu_and_says_why() -> None:
    choice = choose_device(["MYRIAD"], WITH_STICK, "INT8")
    assert choice.device == "CPU" and choice.fell_back
    assert "MYRIAD cannot run INT8 IRs" in choice.reason


def test_next_device_skips_the_stick_for_int8() -> None:
    assert next_device(["GPU", "MYRIAD", "CPU"], WITH_STICK, "GPU", "INT8").device == "CPU"
    assert next_device(["GPU", "MYRIAD", "CPU"], WITH_STICK, "GPU", "FP16").device == "MYRIAD"


@pytest.mark.parametrize(("device", "ok"), [("MYRIAD", False), ("MYRIAD.1.2-ma2480", False), ("CPU", True),
                                            ("GPU.1", True), ("NPU", True)])
def test_runs_precision_int8(device: str, ok: bool) -> None:
    assert runs_precision(device, "INT8") is ok
