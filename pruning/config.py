"""The model config that travels in every checkpoint, so any model (pruned or not) can be rebuilt."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from models.base import StrictModel
from pruning.ssd.anchors import AnchorConfig

Architecture = Literal["ssd-mobilenet", "ssd-squeezenet"]


class AnchorSettings(StrictModel):
    min_scale: float = Field(default=0.1, gt=0, lt=1)
    max_scale: float = Field(default=0.9, gt=0, le=1)
    aspect_ratios: tuple[float, ...] = (2.0, 3.0)

    def to_config(self) -> AnchorConfig:
        return AnchorConfig(self.min_scale, self.max_scale, tuple(self.aspect_ratios))


class ModelConfig(StrictModel):
    """Everything needed to rebuild a model's exact shapes.

    `widths` overrides the output channels of named layers (ConvUnit paths, as in the layer spec); the
    pruner writes it. Layers it does not name keep the width the width multiplier gives them.
    """

    arch: Architecture
    num_classes: int = Field(default=2, ge=2, description="Including background (id 0).")
    labels: dict[int, str] = Field(default_factory=lambda: {1: "person"})
    input_size: tuple[int, int] = (300, 300)
    width_mult: float = Field(default=1.0, gt=0)
    anchors: AnchorSettings = Field(default_factory=AnchorSettings)
    widths: dict[str, int] = Field(default_factory=dict)
