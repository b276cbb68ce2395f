"""Build any supported SSD from its `ModelConfig`, and read back the widths a model really has."""

from __future__ import annotations

from torch import nn

from pruning import mobilenet, squeezenet
from pruning.config import ModelConfig
from pruning.ssd.layers import ConvUnit
from pruning.ssd.ssd import SSD

BUILDERS = {"ssd-mobilenet": mobilenet.build, "ssd-squeezenet": squeezenet.build}


def build_model(config: ModelConfig) -> SSD:
    return BUILDERS[config.arch](config)


def unit_widths(model: nn.Module) -> dict[str, int]:
    """Output channels of every ConvUnit by name: saved in checkpoints so pruned shapes reload."""
    return {name: m.conv.out_channels for name, m in model.named_modules() if isinstance(m, ConvUnit)}


def config_of(model: SSD, config: ModelConfig) -> ModelConfig:
    """`config` with `widths` set to what `model` has now (after pruning, say)."""
    return config.model_copy(update={"widths": unit_widths(model)})
