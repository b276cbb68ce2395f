"""Building blocks whose structure the pruner can see: every convolution is a named `ConvUnit`."""

from __future__ import annotations

import torch
from torch import nn


class ConvUnit(nn.Module):
    """Conv2d + optional BatchNorm + optional activation: one prunable layer (its filters are `out`).

    Attributes:
        conv: the convolution; `conv.out_channels` is what pruning reduces.
        bn: BatchNorm2d or Identity (after `fuse`, or where `bn=False`).
        act: ReLU6, ReLU or Identity.
    """

    def __init__(self, cin: int, cout: int, kernel: int = 1, stride: int = 1, padding: int | None = None,
                 groups: int = 1, bn: bool = True, act: str | None = "relu6", bias: bool | None = None) -> None:
        super().__init__()
        padding = kernel // 2 if padding is None else padding
        self.conv = nn.Conv2d(cin, cout, kernel, stride, padding, groups=groups,
                              bias=(not bn) if bias is None else bias)
        self.bn: nn.Module = nn.BatchNorm2d(cout) if bn else nn.Identity()
        self.act: nn.Module = {"relu6": nn.ReLU6(inplace=True), "relu": nn.ReLU(inplace=True),
                               None: nn.Identity()}[act]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))

    @property
    def kind(self) -> str:
        """'depthwise', 'pointwise' or 'conv', as the layer spec names it."""
        c = self.conv
        if c.groups > 1 and c.groups == c.in_channels == c.out_channels:
            return "depthwise"
        return "pointwise" if c.kernel_size == (1, 1) else "conv"

    @torch.no_grad()
    def fuse(self) -> None:
        """Fold BatchNorm into the convolution (for export); a no-op without BatchNorm."""
        if not isinstance(self.bn, nn.BatchNorm2d):
            return
        bn, conv = self.bn, self.conv
        std = torch.sqrt(bn.running_var + bn.eps)
        factor = bn.weight / std
        bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
        fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                          groups=conv.groups, bias=True)
        fused.weight.copy_(conv.weight * factor.reshape(-1, 1, 1, 1))
        fused.bias.copy_((bias - bn.running_mean) * factor + bn.bias)
        self.conv, self.bn = fused, nn.Identity()


def fuse_all(model: nn.Module) -> nn.Module:
    """Fold every ConvUnit's BatchNorm in place; returns the model."""
    for module in model.modules():
        if isinstance(module, ConvUnit):
            module.fuse()
    return model


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """torchvision's channel rounding, so width 1.0 matches the ImageNet checkpoint exactly."""
    min_value = min_value or divisor
    new = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if new < 0.9 * value:
        new += divisor
    return new
