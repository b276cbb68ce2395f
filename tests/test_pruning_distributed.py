"""Data-parallel training through torchrun: two `gloo` processes on this CPU end where one process does on
the same global batches, and only rank 0 writes the run directory."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from pruning.architectures import build_model
from pruning.cli import EXIT_OK, main
from pruning.config import ModelConfig
from pruning.distributed import World, process_device, world_from_env
from pruning.train import epoch_order
from tests.pruning_fixtures import synth_voc  # noqa: F401

TRAIN = ["--arch", "ssd-mobilenet", "--input-size", "128", "--width-mult", "0.25", "--pretrained-backbone", "none",
         "--epochs", "2", "--batch-size", "6", "--optimizer", "sgd", "--lr", "0.01", "--warmup-steps", "0",
         "--max-steps", "4", "--freeze-bn-stats", "--device", "cpu"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return torch.load(run / "last.pt", map_location="cpu", weights_only=True)["model"]


@pytest.mark.slow
def test_two_gloo_processes_equal_one(synth_voc: Path, tmp_path: Path,  # noqa: F811
                                      capsys: pytest.CaptureFixture[str]) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    assert main(["train", "--data", str(synth_voc), "--out", str(one), *TRAIN]) == EXIT_OK
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr", "127.0.0.1",
         "--master-port", str(_free_port()), "-m", "pruning.cli", "train", "--data", str(synth_voc),
         "--out", str(two), *TRAIN],
        env=env, capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("last.pt") == 1  # rank 0 alone prints the result
    a, b = _weights(one), _weights(two)
    torch.manual_seed(0)  # train's seed: the weights both runs started from
    start = build_model(ModelConfig(arch="ssd-mobilenet", input_size=(128, 128), width_mult=0.25)).state_dict()
    floats = [k for k in a if a[k].is_floating_point()]
    assert max((a[k] - start[k]).abs().max().item() for k in floats) > 1e-2  # training moved them
    delta = max((a[k] - b[k]).abs().max().item() for k in floats)
    assert delta < 1e-5, f"two processes end {delta} away from one"
    log_one = [json.loads(line) for line in (one / "log.jsonl").read_text().splitlines()]
    log_two = [json.loads(line) for line in (two / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log_two] == [r["step"] for r in log_one] == [3, 4]  # one line per epoch: rank 0's
    assert [r["processes"] for r in log_two] == [2, 2]
    assert log_two[0]["loss"] == pytest.approx(log_one[0]["loss"], rel=1e-4)  # the global loss, not a share
    assert sorted(p.name for p in two.iterdir()) == ["last.pt", "log.jsonl", "train.json"]


def test_epoch_order_is_the_shuffling_dataloaders() -> None:
    from torch.utils.data import DataLoader

    loader = DataLoader(list(range(10)), batch_size=None, shuffle=True, generator=torch.Generator().manual_seed(7))
    assert epoch_order(10, 7) == [int(i) for i in loader] and sorted(epoch_order(10, 7)) == list(range(10))


def test_world_from_torchrun_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert world_from_env() == World(0, 1, 0) and not world_from_env().distributed
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "1")
    world = world_from_env()
    assert world == World(3, 4, 1) and world.distributed and not world.is_main
    monkeypatch.setenv("RANK", "x")
    with pytest.raises(ValueError, match="RANK"):
        world_from_env()


def test_each_process_takes_its_local_gpu() -> None:
    world = World(rank=3, size=4, local_rank=1)
    assert process_device(torch.device("cuda"), world) == torch.device("cuda", 1)
    assert process_device(torch.device("cpu"), world) == torch.device("cpu")
    assert process_device(torch.device("cuda", 0), World()) == torch.device("cuda", 0)
    with pytest.raises(ValueError, match="LOCAL_RANK"):
        process_device(torch.device("cuda", 0), world)


def test_global_batch_must_split_evenly(synth_voc: Path, tmp_path: Path,  # noqa: F811
                                        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("WORLD_SIZE", "4")
    assert main(["train", "--data", str(synth_voc), "--out", str(tmp_path / "r"), *TRAIN]) != EXIT_OK
    assert "--batch-size 6" in capsys.readouterr().err and not (tmp_path / "r").exists()
