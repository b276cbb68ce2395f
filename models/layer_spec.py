"""The prunable-layer spec: what the pruner exports and `headcount-agent profile` measures.

`headcount-prune spec` writes it from a PyTorch model; the agent builds small OpenVINO models from it
(no torch) and times each layer across kept-filter counts, producing the latency lookup table.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

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
