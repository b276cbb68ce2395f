"""`--device` of every `headcount-prune` command: resolved or refused with a clear error; checkpoints load
on any device; fine-tunes go to their device and come back. CUDA itself is not here: where a test needs a
GPU to be present, `torch.cuda`'s answers are the stand-in."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from pruning import checkpoint
from pruning.cli import EXIT_ERROR, _parser, main
from pruning.device import (
    DeviceError,
    Precision,
    model_device,
    on_device,
    openvino_device_name,
    resolve_device,
)
from pruning.prune.finetune import FinetuneSettings, finetune
from tests.pruning_fixtures import fitted_checkpoint, synth_voc, tiny_config, tiny_model  # noqa: F401

TORCH_COMMANDS = {
    "train": ["train", "--data", "d", "--out", "o"],
    "prune": ["prune", "--checkpoint", "c.pt", "--data", "d", "--out", "o"],
}
OPENVINO_COMMANDS = {
    "autolabel": ["autolabel", "v.avi", "--out", "o"],
    "export": ["export", "--checkpoint", "c.pt", "--name", "n"],
    "latency": ["latency", "m@1"],
}


@pytest.mark.parametrize(("name", "expected"), [("cpu", "cpu"), ("CPU", "cpu"), (" auto ", "cpu")])
def test_resolves_cpu_and_auto_without_cuda(name: str, expected: str) -> None:
    assert not torch.cuda.is_available()  # this machine; `auto` must then be the CPU
    assert resolve_device(name) == torch.device(expected)


@pytest.mark.parametrize(("name", "message"), [
    ("cuda", "CUDA is not available here"), ("cuda:1", "CUDA is not available here"),
    ("tpu", "unknown; use auto, cpu, cuda or cuda:N"), ("GPU.1", "unknown"), ("cuda:x", "unknown")])
def test_refuses_unknown_or_absent_devices(name: str, message: str) -> None:
    with pytest.raises(DeviceError, match=message) as caught:
        resolve_device(name)
    assert repr(name) in str(caught.value)


def test_cuda_index_checked_against_the_gpus_present(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # stand-in: a machine with one GPU
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("cuda:0") == torch.device("cuda", 0)
    with pytest.raises(DeviceError, match="1 CUDA device"):
        resolve_device("cuda:1")


@pytest.mark.parametrize("command", TORCH_COMMANDS)
def test_torch_commands_take_device_cpu_and_refuse_others(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = _parser().parse_args([*TORCH_COMMANDS[command], "--device", "cpu"])
    assert args.device == torch.device("cpu") and args.amp is False
    assert _parser().parse_args(TORCH_COMMANDS[command]).device == torch.device("cpu")  # auto, here
    for bad, message in (("cuda", "CUDA is not available"), ("npu0", "unknown")):
        with pytest.raises(SystemExit) as exit_:
            _parser().parse_args([*TORCH_COMMANDS[command], "--device", bad])
        assert exit_.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize("command", OPENVINO_COMMANDS)
def test_ir_commands_take_device_cpu_as_openvinos_and_refuse_cuda(command: str,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert _parser().parse_args([*OPENVINO_COMMANDS[command], "--device", "cpu"]).device == "CPU"
    assert _parser().parse_args(OPENVINO_COMMANDS[command]).device == "CPU"
    with pytest.raises(SystemExit):
        _parser().parse_args([*OPENVINO_COMMANDS[command], "--device", "cuda:0"])
    assert "is a PyTorch device" in capsys.readouterr().err


def test_openvino_names_keep_their_form() -> None:
    assert openvino_device_name("auto:npu,cpu") == "AUTO:NPU,CPU"
    with pytest.raises(DeviceError, match="PyTorch device"):
        openvino_device_name("cuda")


def test_eval_device_per_model_kind(fitted_checkpoint: Path, synth_voc: Path,  # noqa: F811
                                    capsys: pytest.CaptureFixture[str]) -> None:
    base = ["eval", "--data", str(synth_voc), "--checkpoint", str(fitted_checkpoint)]
    assert main([*base, "--device", "cuda"]) == EXIT_ERROR
    assert "CUDA is not available here" in capsys.readouterr().err
    assert main(["eval", "--data", str(synth_voc), "--model", "person-ssdlite@1", "--device", "cuda"]) == EXIT_ERROR
    assert "is a PyTorch device" in capsys.readouterr().err


def test_amp_needs_cuda() -> None:
    with pytest.raises(DeviceError, match="needs a CUDA device"):
        Precision(torch.device("cpu"), amp=True)


def test_checkpoint_read_maps_to_cpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A checkpoint written on a GPU holds CUDA tensors; reading maps them to the CPU, whatever saved them."""
    path = tmp_path / "m.pt"
    checkpoint.save(path, tiny_model(), tiny_config())
    seen: dict[str, object] = {}
    real_load = torch.load

    def load(*args: object, **kwargs: object) -> object:
        seen.update(kwargs)
        return real_load(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(torch, "load", load)
    model, _ = checkpoint.load_model(path)
    assert seen["map_location"] == "cpu" and model_device(model) == torch.device("cpu")


def test_on_device_moves_there_and_back_home(monkeypatch: pytest.MonkeyPatch) -> None:
    model = tiny_model()
    moves: list[torch.device] = []
    monkeypatch.setattr(model, "to", lambda device: moves.append(device) or model)  # no GPU to move to here
    with on_device(model, torch.device("cuda", 1)) as moved:
        assert moved is model and moves == [torch.device("cuda", 1)]
    assert moves == [torch.device("cuda", 1), torch.device("cpu")]


def test_finetune_runs_on_its_device_and_returns_the_model(synth_voc: Path) -> None:  # noqa: F811
    from models.scoring import load_dataset
    from pruning.data.synth import LABEL

    model = tiny_model()
    annotations = load_dataset(synth_voc, "train", {LABEL: 1})[:4]
    loss = finetune(model, annotations, 2, FinetuneSettings(batch_size=2, device="cpu"), key=1)
    assert loss == loss and model_device(model) == torch.device("cpu")  # not NaN
    with pytest.raises(DeviceError, match="CUDA is not available"):
        finetune(model, annotations, 1, FinetuneSettings(device="cuda"), key=1)
