"""ImageNet MobileNetV2 weights: a complete key mapping, every backbone tensor loaded with its shape."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from models.assets import CACHE, MOBILENET_V2_WHEEL
from pruning.architectures import build_model
from pruning.mobilenet import MobileNetV2Backbone
from pruning.weights import WeightMappingError, load_imagenet_backbone, torchvision_mapping
from tests.pruning_fixtures import tiny_config

REAL = CACHE / MOBILENET_V2_WHEEL[0] / MOBILENET_V2_WHEEL[2]


def fake_torchvision(tmp_path: Path) -> Path:
    """A torchvision-shaped state dict made from our own width-1.0 backbone via the mapping."""
    ours = MobileNetV2Backbone(1.0, {}).state_dict()
    state = {theirs: torch.randn_like(ours[k].float()).to(ours[k].dtype) for k, theirs in
             torchvision_mapping().items()}
    state["classifier.1.weight"] = torch.zeros(1000, 1280)
    torch.save(state, tmp_path / "fake.pth")
    return tmp_path / "fake.pth"


def _check_loaded(path: Path) -> None:
    backbone = MobileNetV2Backbone(1.0, {})
    loaded = load_imagenet_backbone(backbone, path)
    target = backbone.state_dict()
    assert sorted(loaded) == sorted(target)  # every backbone tensor, nothing else
    source = torch.load(path, weights_only=True)
    for ours, theirs in torchvision_mapping().items():
        assert torch.equal(target[ours], source[theirs]), ours


def test_mapping_loads_every_tensor(tmp_path: Path) -> None:
    _check_loaded(fake_torchvision(tmp_path))


@pytest.mark.skipif(not REAL.is_file(), reason="run `python -m models.assets mobilenet-v2` first")
def test_real_imagenet_checkpoint_loads() -> None:
    _check_loaded(REAL)
    source = torch.load(REAL, weights_only=True)
    unused = set(source) - set(torchvision_mapping().values())
    assert unused == {"classifier.1.weight", "classifier.1.bias"}


def test_width_mismatch_is_refused(tmp_path: Path) -> None:
    model = build_model(tiny_config())
    with pytest.raises(WeightMappingError, match="width multiplier must be 1.0"):
        load_imagenet_backbone(model.backbone, fake_torchvision(tmp_path))
