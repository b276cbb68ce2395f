"""The profiler's view of a layer spec: read (`models.layer_spec.read_spec`) with concat readers split per
producer, each layer's output size, and the layers it profiles."""

from __future__ import annotations

from pathlib import Path

from models.layer_spec import LayerSpec, ModelSpec, SpecError, check_spec, read_spec

__all__ = ["SpecError", "check_spec", "load_spec", "output_size", "profiled_layers"]


def load_spec(path: Path | str) -> ModelSpec:
    """`models.layer_spec.read_spec`, with consumers that read a concat split per producer, as profile times them."""
    return read_spec(path).split_concat_readers()


def output_size(layer: LayerSpec) -> tuple[int, int]:
    """Spatial size of a layer's output."""
    h, w = layer.input_size
    k, s, p = layer.kernel, layer.stride, layer.padding
    return (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1


def profiled_layers(spec: ModelSpec) -> list[LayerSpec]:
    """Layers whose filter count the pruner chooses: prunable and not depthwise (those follow their producer)."""
    return [layer for layer in spec.layers if layer.prunable and layer.kind != "depthwise"]
