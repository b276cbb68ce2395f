"""SSD-MobileNet: MobileNetV2 backbone with SSDLite heads and extra layers (depthwise separable).

Feature maps (300x300 input): the expansion output of block 13 (576 ch, 19x19, TF's "layer_15/expansion"),
the last 1x1 conv (1280 ch, 10x10), then four extra layers down to 1x1. Layer names are ConvUnit paths
(`backbone.blocks.3.expand`), which `ModelConfig.widths` and the layer spec use.
"""

from __future__ import annotations

import torch
from torch import nn

from pruning.config import ModelConfig
from pruning.ssd.layers import ConvUnit, make_divisible
from pruning.ssd.ssd import SSD, SSDLiteHead, assemble

# (expansion t, channels c, repeats n, first stride s): torchvision's MobileNetV2 table.
INVERTED_RESIDUAL_SETTING = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                             (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
TAP_BLOCK = 13
"""Block whose expansion output is the first feature map."""
EXTRA_DEPTHS = (512, 256, 256, 128)


class InvertedResidual(nn.Module):
    """expand 1x1 (absent when t == 1) -> depthwise 3x3 -> project 1x1 (linear), plus the input if `residual`.

    Whether a block adds its input is part of the architecture (decided on the unpruned widths), not of
    the widths it is built with: a pruned block whose input and output widths happen to match keeps the
    structure it had.
    """

    def __init__(self, cin: int, hidden: int, cout: int, stride: int, expand: bool, residual: bool) -> None:
        super().__init__()
        if residual and (stride != 1 or cin != cout):
            raise ValueError(f"a residual block needs stride 1 and equal widths, got {cin}->{cout} stride {stride}")
        self.expand = ConvUnit(cin, hidden, 1) if expand else None
        self.dw = ConvUnit(hidden, hidden, 3, stride, groups=hidden)
        self.project = ConvUnit(hidden, cout, 1, act=None)
        self.use_res = residual

    def expanded(self, x: torch.Tensor) -> torch.Tensor:
        return self.expand(x) if self.expand is not None else x

    def finish(self, hidden: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        out = self.project(self.dw(hidden))
        return x + out if self.use_res else out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.finish(self.expanded(x), x)


class MobileNetV2Backbone(nn.Module):
    def __init__(self, width_mult: float, widths: dict[str, int]) -> None:
        super().__init__()
        unpruned_cin = make_divisible(32 * width_mult)
        stem = widths.get("backbone.stem", unpruned_cin)
        self.stem = ConvUnit(3, stem, 3, 2)
        blocks, cin, index = [], stem, 0
        for t, c, n, s in INVERTED_RESIDUAL_SETTING:
            stage_out = make_divisible(c * width_mult)
            for i in range(n):
                name = f"backbone.blocks.{index}"
                hidden = widths.get(f"{name}.expand", round(cin * t)) if t != 1 else cin
                stride = s if i == 0 else 1
                # MobileNetV2's rule (stride 1, same width in and out) on the unpruned widths: later blocks
                # of a stage, and a first block too where a narrow width multiplier makes the widths equal.
                residual = stride == 1 and unpruned_cin == stage_out
                # A residual block's output is tied to its input by the add: its width follows cin.
                cout = cin if residual else widths.get(f"{name}.project", stage_out)
                blocks.append(InvertedResidual(cin, hidden, cout, stride, expand=t != 1, residual=residual))
                cin, unpruned_cin, index = cout, stage_out, index + 1
        self.blocks = nn.ModuleList(blocks)
        last = widths.get("backbone.last", make_divisible(1280 * max(1.0, width_mult)))
        self.last = ConvUnit(cin, last, 1)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x, maps = self.stem(x), []
        for index, block in enumerate(self.blocks):
            if index == TAP_BLOCK:
                hidden = block.expanded(x)
                maps.append(hidden)
                x = block.finish(hidden, x)
            else:
                x = block(x)
        maps.append(self.last(x))
        return maps

    @property
    def out_channels(self) -> list[int]:
        tap = self.blocks[TAP_BLOCK]
        return [tap.dw.conv.in_channels, self.last.conv.out_channels]


class ExtraSeparable(nn.Sequential):
    """SSDLite extra layer: 1x1 to d/2, depthwise 3x3 stride 2, 1x1 to d."""

    def __init__(self, cin: int, mid: int, cout: int) -> None:
        super().__init__()
        self.reduce = ConvUnit(cin, mid, 1)
        self.dw = ConvUnit(mid, mid, 3, 2, groups=mid)
        self.expand = ConvUnit(mid, cout, 1)


def build(config: ModelConfig) -> SSD:
    """SSD-MobileNet for `config` (arch 'ssd-mobilenet')."""
    backbone = MobileNetV2Backbone(config.width_mult, config.widths)
    return assemble(config, backbone, ExtraSeparable, "expand", SSDLiteHead, EXTRA_DEPTHS)


def _head_dws(index: int) -> tuple[str, str]:
    return f"cls_heads.{index}.dw", f"loc_heads.{index}.dw"


def wire(graph: "LayerGraph") -> None:  # noqa: F821 (structure imports us)
    """MobileNetV2-SSDLite wiring.

    Depthwise convs join their producer's group. Projections of stages with residual adds are tied
    across the stage (group `residual:<first block>`) and left unpruned; single-block stages' projections
    are free. Head outputs are frozen.
    """
    model = graph.model
    blocks = model.backbone.blocks
    prev = "backbone.stem"
    index = 0
    for _t, _c, n, _s in INVERTED_RESIDUAL_SETTING:
        stage = [f"backbone.blocks.{index + i}.project" for i in range(n)]
        for _ in range(n):
            name = f"backbone.blocks.{index}"
            first = f"{name}.expand" if blocks[index].expand is not None else f"{name}.dw"
            graph.wire(prev, first)
            if blocks[index].expand is not None:
                graph.wire(f"{name}.expand", f"{name}.dw")
                graph.couple(f"{name}.expand", f"{name}.expand", f"{name}.dw")
            else:
                graph.couple(prev, prev, f"{name}.dw")
            graph.wire(f"{name}.dw", f"{name}.project")
            prev, index = f"{name}.project", index + 1
        if n > 1:
            graph.couple(f"residual:{stage[0]}", *stage)
            graph.freeze(*stage)
    tap = f"backbone.blocks.{TAP_BLOCK}.expand"
    graph.wire(tap, *_head_dws(0))
    graph.couple(tap, *_head_dws(0))
    graph.wire(prev, "backbone.last")
    sources = ["backbone.last"] + [f"extras.{k}.expand" for k in range(len(model.extras))]
    for k, source in enumerate(sources):
        readers = list(_head_dws(k + 1))
        if k < len(model.extras):
            readers.append(f"extras.{k}.reduce")
            graph.wire(f"extras.{k}.reduce", f"extras.{k}.dw")
            graph.couple(f"extras.{k}.reduce", f"extras.{k}.reduce", f"extras.{k}.dw")
            graph.wire(f"extras.{k}.dw", f"extras.{k}.expand")
        graph.wire(source, *readers)
        graph.couple(source, source, *_head_dws(k + 1))
    for k in range(len(model.cls_heads)):
        for head in ("cls_heads", "loc_heads"):
            graph.wire(f"{head}.{k}.dw", f"{head}.{k}.out")
            graph.freeze(f"{head}.{k}.out")
