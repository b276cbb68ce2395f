"""The prunable-layer spec: what the pruner exports and `headcount-agent profile` measures.

`headcount-prune spec` writes it from a PyTorch model; the agent builds small OpenVINO models from it
(no torch) and times each layer across kept-filter counts, producing the latency lookup table. Both halves
read a spec file with `read_spec`, whose errors name the file and the field.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError

from models.base import StrictModel

LayerKind = Literal["conv", "depthwise", "pointwise"]


class LayerSpec(StrictModel):
    """One convolution as it runs in the deployed model."""

    name: str = Field(description="Unique layer name, e.g. 'backbone.features.3.conv.0'.")
    kind: LayerKind = Field(description="conv (dense kxk), depthwise (groups == channels) or pointwise (1x1).")
    in_channels: int = Field(gt=0)
    out_channels: int = Field(gt=0, description="Filters: the count the pruner reduces.")
    kernel: int = Field(gt=0)
    stride: int = Field(default=1, gt=0)
    padding: int = Field(default=0, ge=0)
    groups: int = Field(default=1, gt=0)
    input_size: tuple[int, int] = Field(description="Input feature map (height, width).")
    consumers: list[str] = Field(
        default_factory=list, description="Layers that read this layer's output channels (after any concat)."
    )
    prunable: bool = Field(default=True, description="False for heads' outputs and residual-tied channels.")
    group: str | None = Field(
        default=None,
        description="Coupling group: layers whose output channels must be pruned together "
        "(a depthwise conv follows its producer; concat members keep their own widths).",
    )


class ModelSpec(StrictModel):
    model: str = Field(description="Architecture or `name@version` the spec was taken from.")
    input_size: tuple[int, int] = Field(description="Network input (height, width).")
    layers: list[LayerSpec]

    def layer(self, name: str) -> LayerSpec:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(f"no layer named {name!r} in spec of {self.model}")

    def split_concat_readers(self) -> ModelSpec:
        """The same spec with every consumer that reads a concat cloned per producer, so each layer can be
        timed with its consumers alone (SqueezeNet fire modules: expand1x1 and expand3x3 feed the next
        squeeze together).

        A clone is named `<consumer>@<producer>` and reads only that producer's channels: its latency
        saving per removed channel is the same. Prunable layers keep their names and shapes; a spec
        without concats comes back unchanged, and applying it twice changes nothing more.
        """
        by_name = {layer.name: layer for layer in self.layers}
        layers: list[LayerSpec] = []
        clones: list[LayerSpec] = []
        for layer in self.layers:
            consumers = []
            for name in layer.consumers:
                reader = by_name[name]
                if reader.kind == "depthwise" or reader.in_channels == layer.out_channels:
                    consumers.append(name)
                    continue
                clone = reader.model_copy(update={"name": f"{name}@{layer.name}", "in_channels": layer.out_channels,
                                                  "consumers": [], "prunable": False, "group": None})
                clones.append(clone)
                consumers.append(clone.name)
            layers.append(layer.model_copy(update={"consumers": consumers}))
        return self.model_copy(update={"layers": layers + clones})


class SpecError(ValueError):
    """The spec is unusable; the message names the file (or model) and the field."""


def read_spec(path: Path | str) -> ModelSpec:
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
    return spec


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
