"""Load torchvision's ImageNet MobileNetV2 checkpoint (`mobilenet_v2-b0353104.pth`) into our backbone.

The mapping is explicit and complete: every backbone tensor gets exactly one source tensor of the
same shape, or loading fails naming the tensor. The classifier is the only source part left unused.
"""

from __future__ import annotations

from pathlib import Path

import torch

from pruning.mobilenet import INVERTED_RESIDUAL_SETTING, MobileNetV2Backbone

BN_KEYS = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


class WeightMappingError(ValueError):
    """The checkpoint does not fit the backbone; the message names the tensor."""


def _unit(ours: str, theirs_conv: str, theirs_bn: str) -> dict[str, str]:
    mapping = {f"{ours}.conv.weight": f"{theirs_conv}.weight"}
    mapping.update({f"{ours}.bn.{k}": f"{theirs_bn}.{k}" for k in BN_KEYS})
    return mapping


def torchvision_mapping() -> dict[str, str]:
    """Our backbone state-dict key (without the 'backbone.' prefix) -> torchvision key."""
    mapping = _unit("stem", "features.0.0", "features.0.1")
    index = 0
    for t, _c, n, _s in INVERTED_RESIDUAL_SETTING:
        for _ in range(n):
            src, dst = f"features.{index + 1}.conv", f"blocks.{index}"
            if t == 1:
                mapping |= _unit(f"{dst}.dw", f"{src}.0.0", f"{src}.0.1")
                mapping |= _unit(f"{dst}.project", f"{src}.1", f"{src}.2")
            else:
                mapping |= _unit(f"{dst}.expand", f"{src}.0.0", f"{src}.0.1")
                mapping |= _unit(f"{dst}.dw", f"{src}.1.0", f"{src}.1.1")
                mapping |= _unit(f"{dst}.project", f"{src}.2", f"{src}.3")
            index += 1
    mapping |= _unit("last", "features.18.0", "features.18.1")
    return mapping


def load_imagenet_backbone(backbone: MobileNetV2Backbone, path: Path | str) -> list[str]:
    """Copy the ImageNet weights into `backbone` (width 1.0 only); returns the loaded keys.

    Raises:
        WeightMappingError: a backbone tensor has no source, or shapes differ (e.g. width != 1.0).
    """
    source = torch.load(path, map_location="cpu", weights_only=True)
    mapping = torchvision_mapping()
    target = backbone.state_dict()
    missing = sorted(set(target) - set(mapping))
    if missing:
        raise WeightMappingError(f"{path}: no mapping for backbone tensors {missing[:5]}")
    state = {}
    for ours, theirs in mapping.items():
        if theirs not in source:
            raise WeightMappingError(f"{path}: tensor {theirs!r} (for {ours}) not in checkpoint")
        if source[theirs].shape != target[ours].shape:
            raise WeightMappingError(f"{path}: {theirs} has shape {tuple(source[theirs].shape)}, backbone "
                                     f"{ours} needs {tuple(target[ours].shape)} (width multiplier must be 1.0)")
        state[ours] = source[theirs]
    backbone.load_state_dict(state, strict=True)
    return sorted(state)
