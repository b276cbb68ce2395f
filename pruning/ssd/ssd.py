"""The SSD core: a backbone's feature maps, extra layers, and one class head and one box head per map."""

from __future__ import annotations

import torch
from torch import nn

from pruning.ssd import anchors as anchor_gen
from pruning.ssd.anchors import AnchorConfig
from pruning.ssd.layers import ConvUnit


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
