"""Reading a prunable-layer spec JSON with errors that name the file and the field."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from models.layer_spec import LayerSpec, ModelSpec


class SpecError(ValueError):
    """The spec is unusable; the message names the file (or model) and the field."""


def load_spec(path: Path | str) -> ModelSpec:
    """Parse and check a spec file: schema, unique names, known consumers, consistent channels."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise SpecError(f"{path}: cannot read spec ({exc.strerror or exc})") from exc
    try:
        spec = ModelSpec.model_validate(json.loads(text))
    except json.JSONDecodeError as exc:
        raise SpecError(f"{path}: not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from exc
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}" for e in exc.errors()
        )
        raise SpecError(f"{path}: invalid layer spec: {problems}") from exc
    check_spec(spec, str(path))
    return spec.split_concat_readers()  # consumers reading a concat are timed per producer


def check_spec(spec: ModelSpec, source: str) -> None:
    """Cross-field checks pydantic cannot do layer by layer."""
    names = [layer.name for layer in spec.layers]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise SpecError(f"{source}: layers: repeated names {repeated}")
    by_name = {layer.name: layer for layer in spec.layers}
    for i, layer in enumerate(spec.layers):
        where = f"{source}: layers.{i} ({layer.name})"
        if layer.kind == "depthwise" and not (layer.groups == layer.in_channels == layer.out_channels):
            raise SpecError(f"{where}: depthwise needs groups == in_channels == out_channels")
        if layer.in_channels % layer.groups or layer.out_channels % layer.groups:
            raise SpecError(f"{where}: groups {layer.groups} does not divide the channels")
        for consumer in layer.consumers:
            if consumer not in by_name:
                raise SpecError(f"{where}: consumers: unknown layer {consumer!r}")
            if by_name[consumer].in_channels < layer.out_channels:
                raise SpecError(
                    f"{where}: consumers: {consumer!r} reads {by_name[consumer].in_channels} channels, "
                    f"fewer than this layer's {layer.out_channels} filters"
                )


def output_size(layer: LayerSpec) -> tuple[int, int]:
    """Spatial size of a layer's output."""
    h, w = layer.input_size
    k, s, p = layer.kernel, layer.stride, layer.padding
    return (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1


def profiled_layers(spec: ModelSpec) -> list[LayerSpec]:
    """Layers whose filter count the pruner chooses: prunable and not depthwise (those follow their producer)."""
    return [layer for layer in spec.layers if layer.prunable and layer.kind != "depthwise"]
