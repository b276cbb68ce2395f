"""The SSD core: a backbone's feature maps, extra layers, and one class head and one box head per map."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from torch import nn

from pruning.ssd import anchors as anchor_gen
from pruning.ssd.anchors import AnchorConfig
from pruning.ssd.layers import ConvUnit, make_divisible

if TYPE_CHECKING:
    from pruning.config import ModelConfig


class SSD(nn.Module):
    """Single-shot detector.

    Args:
        backbone: returns a list of feature maps.
        extras: each takes the previous map and returns the next (stride 2).
        cls_heads / loc_heads: one per map, giving A*C and A*4 channels.
        num_classes: including background (a person detector has 2).
        anchor_config: default-box layout; anchors are built for `input_size` by a dummy pass.
        input_size: (height, width) of the network input.
    """

    def __init__(self, backbone: nn.Module, extras: nn.ModuleList, cls_heads: nn.ModuleList,
                 loc_heads: nn.ModuleList, num_classes: int, anchor_config: AnchorConfig,
                 input_size: tuple[int, int]) -> None:
        super().__init__()
        self.backbone, self.extras = backbone, extras
        self.cls_heads, self.loc_heads = cls_heads, loc_heads
        self.num_classes = num_classes
        self.anchor_config = anchor_config
        self.input_size = input_size
        was_training = self.training
        self.eval()
        with torch.no_grad():
            sizes = [tuple(f.shape[-2:]) for f in self.features(torch.zeros(1, 3, *input_size))]
        self.train(was_training)
        self.map_sizes: list[tuple[int, int]] = sizes  # type: ignore[assignment]
        self.register_buffer("anchors", anchor_gen.generate(anchor_config, self.map_sizes), persistent=False)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        maps = list(self.backbone(x))
        for extra in self.extras:
            maps.append(extra(maps[-1]))
        return maps

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Box offsets (B, P, 4) and class logits (B, P, C), anchors in `self.anchors` order."""
        locs, confs = [], []
        for fmap, cls_head, loc_head in zip(self.features(x), self.cls_heads, self.loc_heads, strict=True):
            locs.append(loc_head(fmap).permute(0, 2, 3, 1).reshape(x.shape[0], -1, 4))
            confs.append(cls_head(fmap).permute(0, 2, 3, 1).reshape(x.shape[0], -1, self.num_classes))
        return torch.cat(locs, dim=1), torch.cat(confs, dim=1)


class SSDLiteHead(nn.Sequential):
    """Depthwise 3x3 + BN + ReLU6, then a 1x1 conv to `cout` (never pruned: anchors x outputs)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.dw = ConvUnit(cin, cin, 3, groups=cin)
        self.out = ConvUnit(cin, cout, 1, bn=False, act=None)


class SSDHead(nn.Sequential):
    """A plain 3x3 conv to `cout` (the original SSD head)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.out = ConvUnit(cin, cout, 3, bn=False, act=None)


def assemble(
    config: ModelConfig,
    backbone: nn.Module,
    extra: Callable[[int, int, int], nn.Module],
    extra_out: str,
    head: Callable[[int, int], nn.Module],
    extra_depths: tuple[int, ...],
) -> SSD:
    """An SSD from a backbone: extra feature layers (`extras.<k>.reduce` / `extras.<k>.<extra_out>` widths
    taken from `config.widths` when pruned), then class and box heads on every feature map."""
    w, widths = config.width_mult, config.widths
    channels = list(backbone.out_channels)
    extras, cin = [], channels[-1]
    for k, depth in enumerate(extra_depths):
        mid = widths.get(f"extras.{k}.reduce", make_divisible(depth * w / 2))
        out = widths.get(f"extras.{k}.{extra_out}", make_divisible(depth * w))
        extras.append(extra(cin, mid, out))
        channels.append(out)
        cin = out
    anchor_config = config.anchors.to_config()
    per_cell = anchor_gen.anchors_per_cell(anchor_config, len(channels))
    cls = nn.ModuleList(head(c, a * config.num_classes) for c, a in zip(channels, per_cell, strict=True))
    loc = nn.ModuleList(head(c, a * 4) for c, a in zip(channels, per_cell, strict=True))
    return SSD(backbone, nn.ModuleList(extras), cls, loc, config.num_classes, anchor_config,
               tuple(config.input_size))
