"""SSD-SqueezeNet: SqueezeNet 1.1 backbone (fire modules) with SSD heads and extra layers.

BatchNorm follows every conv (SqueezeNet 1.1 has none): the model trains from scratch, since no
SqueezeNet weights exist in the registries, and BatchNorm makes that practical; it is folded at export.
Feature maps (300x300 input): fire5 (256 ch, 38x38), fire9 (512 ch, 19x19), then four extras.
A fire module's expand1x1 and expand3x3 outputs are concatenated: consumers see expand1x1's channels
first, then expand3x3's (offset = expand1x1 width).
"""

from __future__ import annotations

import torch
from torch import nn

from pruning.config import ModelConfig
from pruning.ssd.layers import ConvUnit, make_divisible
from pruning.ssd.ssd import SSD, SSDHead, assemble

# (squeeze, expand1x1, expand3x3) of fire2..fire9; a max pool precedes fire2, fire4 and fire6.
FIRE_SETTING = [(16, 64, 64), (16, 64, 64), (32, 128, 128), (32, 128, 128),
                (48, 192, 192), (48, 192, 192), (64, 256, 256), (64, 256, 256)]
POOL_BEFORE = {0, 2, 4}
TAP_FIRE = 3
"""Index of the fire module (fire5) whose output is the first feature map."""
EXTRA_DEPTHS = (512, 256, 256, 128)


class Fire(nn.Module):
    def __init__(self, cin: int, squeeze: int, e1: int, e3: int) -> None:
        super().__init__()
        self.squeeze = ConvUnit(cin, squeeze, 1, act="relu")
        self.expand1x1 = ConvUnit(squeeze, e1, 1, act="relu")
        self.expand3x3 = ConvUnit(squeeze, e3, 3, act="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.squeeze(x)
        return torch.cat([self.expand1x1(s), self.expand3x3(s)], dim=1)

    @property
    def out_channels(self) -> int:
        return self.expand1x1.conv.out_channels + self.expand3x3.conv.out_channels


class SqueezeNetBackbone(nn.Module):
    def __init__(self, width_mult: float, widths: dict[str, int]) -> None:
        super().__init__()
        stem = widths.get("backbone.stem", make_divisible(64 * width_mult))
        self.stem = ConvUnit(3, stem, 3, 2, padding=1, act="relu")
        # Padding 1 instead of SqueezeNet's ceil_mode: same sizes, and MaxPool-1 (ceil_mode becomes opset14).
        self.pool = nn.MaxPool2d(3, 2, padding=1)
        fires, cin = [], stem
        for i, (sq, e1, e3) in enumerate(FIRE_SETTING):
            name = f"backbone.fires.{i}"
            fire = Fire(cin, widths.get(f"{name}.squeeze", make_divisible(sq * width_mult)),
                        widths.get(f"{name}.expand1x1", make_divisible(e1 * width_mult)),
                        widths.get(f"{name}.expand3x3", make_divisible(e3 * width_mult)))
            fires.append(fire)
            cin = fire.out_channels
        self.fires = nn.ModuleList(fires)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x, maps = self.stem(x), []
        for i, fire in enumerate(self.fires):
            if i in POOL_BEFORE:
                x = self.pool(x)
            x = fire(x)
            if i == TAP_FIRE:
                maps.append(x)
        maps.append(x)
        return maps

    @property
    def out_channels(self) -> list[int]:
        return [self.fires[TAP_FIRE].out_channels, self.fires[-1].out_channels]


class Extra(nn.Sequential):
    """SSD extra layer: 1x1 to d/2, 3x3 stride 2 to d."""

    def __init__(self, cin: int, mid: int, cout: int) -> None:
        super().__init__()
        self.reduce = ConvUnit(cin, mid, 1, act="relu")
        self.conv = ConvUnit(mid, cout, 3, 2, act="relu")


def build(config: ModelConfig) -> SSD:
    """SSD-SqueezeNet for `config` (arch 'ssd-squeezenet')."""
    backbone = SqueezeNetBackbone(config.width_mult, config.widths)
    return assemble(config, backbone, Extra, "conv", SSDHead, EXTRA_DEPTHS)


def wire(graph: "LayerGraph") -> None:  # noqa: F821 (structure imports us)
    """SqueezeNet-SSD wiring: squeeze -> (expand1x1 | expand3x3) -> concat -> every reader, with offsets.

    The two expands keep their own widths (no group); readers see expand3x3's channels after
    expand1x1's. Head outputs are frozen.
    """
    model = graph.model
    fires = model.backbone.fires
    outputs: list[tuple[str, int]] = [("backbone.stem", 0)]

    def feed(readers: list[str]) -> None:
        for producer, offset in outputs:
            graph.wire(producer, *readers, offset=offset)

    heads = lambda k: [f"cls_heads.{k}.out", f"loc_heads.{k}.out"]  # noqa: E731
    for i, fire in enumerate(fires):
        name = f"backbone.fires.{i}"
        feed([f"{name}.squeeze"])
        graph.wire(f"{name}.squeeze", f"{name}.expand1x1", f"{name}.expand3x3")
        outputs = [(f"{name}.expand1x1", 0), (f"{name}.expand3x3", fire.expand1x1.conv.out_channels)]
        if i == TAP_FIRE:
            feed(heads(0))
    for k in range(len(model.extras)):
        feed([f"extras.{k}.reduce"] + heads(k + 1))
        graph.wire(f"extras.{k}.reduce", f"extras.{k}.conv")
        outputs = [(f"extras.{k}.conv", 0)]
    feed(heads(len(model.extras) + 1))
    for k in range(len(model.cls_heads)):
        graph.freeze(*heads(k))
