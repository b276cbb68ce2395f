"""The explicit layer graph of an SSD: which convolutions exist, who reads each output, what is tied.

Every convolution is a `ConvUnit` named by its module path. Each architecture module describes its own
wiring (`mobilenet.wire`, `squeezenet.wire`) into a `LayerGraph`: producers -> consumers with the
channel offset at which the producer's channels appear in the consumer's input (non-zero only behind a
fire module's concat), coupling groups (a depthwise conv is pruned with its producer), and whether a
layer may lose filters (not the heads' outputs: anchors x (classes + 4); not residual-tied channels).
`to_spec` turns it into the `ModelSpec` JSON that `headcount-agent profile` reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from models.layer_spec import LayerSpec, ModelSpec
from pruning.ssd.layers import ConvUnit
from pruning.ssd.ssd import SSD


@dataclass
class Edge:
    """`consumer` reads the producer's channels at input offset `offset`."""

    consumer: str
    offset: int = 0


@dataclass
class Node:
    name: str
    unit: ConvUnit
    consumers: list[Edge] = field(default_factory=list)
    group: str | None = None
    prunable: bool = True


@dataclass
class LayerGraph:
    """Nodes in forward order; build one with `wire` calls, then `check`."""

    model: SSD
    nodes: dict[str, Node] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, module in self.model.named_modules():
            if isinstance(module, ConvUnit):
                self.nodes[name] = Node(name, module)

    def wire(self, producer: str, *consumers: str, offset: int = 0) -> None:
        for consumer in consumers:
            if consumer not in self.nodes:
                raise KeyError(f"no layer {consumer!r}")
            self.nodes[producer].consumers.append(Edge(consumer, offset))

    def couple(self, group: str, *names: str) -> None:
        """Put layers into one coupling group (their output channels are removed together)."""
        for name in names:
            self.nodes[name].group = group

    def freeze(self, *names: str) -> None:
        for name in names:
            self.nodes[name].prunable = False

    def producers(self, name: str) -> list[tuple[str, int]]:
        """(producer, offset) of every layer whose output `name` reads."""
        return [(p.name, e.offset) for p in self.nodes.values() for e in p.consumers if e.consumer == name]

    def check(self) -> None:
        """Every consumer's input channels are tiled exactly by its producers' outputs (concat order)."""
        for node in self.nodes.values():
            producers = sorted(self.producers(node.name), key=lambda p: p[1])
            if not producers:
                if node.unit.conv.in_channels == 3:  # reads the image
                    continue
                raise ValueError(f"layer {node.name} has no producer")
            end = 0
            for producer, offset in producers:
                if offset != end:
                    raise ValueError(f"layer {node.name}: {producer} starts at channel {offset}, expected {end}")
                end += self.nodes[producer].unit.conv.out_channels
            if end != node.unit.conv.in_channels:
                raise ValueError(f"layer {node.name}: reads {node.unit.conv.in_channels} channels, "
                                 f"producers {producers} give {end}")


def build_graph(model: SSD, arch: str) -> LayerGraph:
    from pruning import mobilenet, squeezenet

    graph = LayerGraph(model)
    {"ssd-mobilenet": mobilenet.wire, "ssd-squeezenet": squeezenet.wire}[arch](graph)
    graph.check()
    return graph


def input_sizes(model: SSD) -> dict[str, tuple[int, int]]:
    """Input feature-map (height, width) of every ConvUnit, from one forward pass."""
    sizes: dict[str, tuple[int, int]] = {}
    handles = []
    for name, module in model.named_modules():
        if isinstance(module, ConvUnit):
            def hook(_m: nn.Module, inp: tuple, _out: torch.Tensor, name: str = name) -> None:
                sizes[name] = (int(inp[0].shape[-2]), int(inp[0].shape[-1]))
            handles.append(module.conv.register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, *model.input_size))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return sizes


def to_spec(graph: LayerGraph, model_name: str) -> ModelSpec:
    """The profile spec of every convolution, in forward order."""
    sizes = input_sizes(graph.model)
    layers = []
    for node in graph.nodes.values():
        conv = node.unit.conv
        layers.append(LayerSpec(
            name=node.name, kind=node.unit.kind, in_channels=conv.in_channels, out_channels=conv.out_channels,
            kernel=conv.kernel_size[0], stride=conv.stride[0], padding=conv.padding[0], groups=conv.groups,
            input_size=sizes[node.name], consumers=[e.consumer for e in node.consumers],
            prunable=node.prunable, group=node.group))
    return ModelSpec(model=model_name, input_size=tuple(graph.model.input_size), layers=layers)
