"""Shared fixtures of the pruning tests: tiny models, a small synthetic VOC dataset, a briefly fitted model.

Import the fixtures you use into a test module (`from tests.pruning_fixtures import synth_voc`).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from pruning.architectures import build_model
from pruning.config import ModelConfig
from pruning.data.synth import LABEL, generate_images
from pruning.ssd.ssd import SSD
from pruning.train import TrainConfig, train

TINY = 128
ARCHS = ["ssd-mobilenet", "ssd-squeezenet"]


def tiny_config(arch: str = "ssd-mobilenet", **overrides: object) -> ModelConfig:
    """A quarter-width model on 128x128 input: fast enough for every test."""
    fields = {"arch": arch, "width_mult": 0.25, "input_size": (TINY, TINY), "labels": {1: LABEL}}
    fields.update(overrides)
    return ModelConfig(**fields)  # type: ignore[arg-type]


def tiny_model(arch: str = "ssd-mobilenet", seed: int = 0) -> SSD:
    torch.manual_seed(seed)
    return build_model(tiny_config(arch)).eval()


@pytest.fixture(scope="session")
def synth_voc(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 synthetic overhead scenes as a VOC dataset (18 train, 6 test)."""
    root = tmp_path_factory.mktemp("synth_voc")
    generate_images(root, count=24, seed=3)
    return root


@pytest.fixture(scope="session")
def fitted_checkpoint(synth_voc: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny SSD-MobileNet fitted for a few steps: its scores are no longer all alike (for parity)."""
    out = tmp_path_factory.mktemp("fitted")
    cfg = TrainConfig(data=synth_voc, out=out, model=tiny_config(), epochs=4, batch_size=6, lr=3e-3,
                      warmup_steps=2, max_expand=1.0, threads=1)
    return train(cfg, progress=False)
