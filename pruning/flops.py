"""FLOPs (2 x multiply-accumulates of convolutions and linear layers) and parameter counts."""

from __future__ import annotations

import torch
from torch import nn


def count_flops(model: nn.Module, input_size: tuple[int, int]) -> int:
    """FLOPs of one forward pass on a 1x3xHxW input (BatchNorm, activations and adds not counted)."""
    total = 0

    def conv_hook(module: nn.Conv2d, _inp: tuple, out: torch.Tensor) -> None:
        nonlocal total
        kh, kw = module.kernel_size
        total += 2 * out.numel() * (module.in_channels // module.groups) * kh * kw

    def linear_hook(module: nn.Linear, _inp: tuple, out: torch.Tensor) -> None:
        nonlocal total
        total += 2 * out.numel() * module.in_features

    handles = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, *input_size))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return total


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
