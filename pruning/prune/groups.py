"""Prunable groups: the unit of filter removal, derived from the explicit `LayerGraph`.

A group is one *root* convolution (the layer whose filters are counted, and the LUT's key), the depthwise
convolutions coupled to it (their channels are the root's channels, so they lose the same ones, with
their BatchNorm), and every *consumer* outside the group that reads those channels, each at its concat
offset (non-zero only behind a SqueezeNet fire module's concat of expand1x1 | expand3x3).

Left alone (never a group):
- SSD heads' output convolutions (anchors x (classes + 4) channels): frozen in the graph; their *inputs*
  are pruned as consumers.
- MobileNetV2 projections of stages with residual adds (24, 32, 64, 96, 160 channels): the add ties every
  block's projection and the stage input into one channel set; the graph freezes them (`residual:*`).
  Pruning them would need every block of the stage and the stage's producer pruned as one, which saves
  little (they are narrow) and hurts most. Single-block stages' projections (16 and 320) are free, unless
  a narrow width multiplier makes a first block residual too (then it and its input producer are left).

Groups are rebuilt from the current model after every surgery, so offsets and widths are always current.
"""

from __future__ import annotations

from dataclasses import dataclass

from pruning.ssd.layers import ConvUnit
from pruning.structure import LayerGraph


@dataclass
class Consumer:
    """A layer outside the group reading the group's channels from input channel `offset` on."""

    name: str
    unit: ConvUnit
    offset: int


@dataclass
class PruneGroup:
    """Output channels that are removed together.

    Attributes:
        name: the root layer's name (LUT key, `ModelConfig.widths` key).
        members: root first, then its coupled depthwise layers; all lose the same output channels.
        consumers: readers outside the group; they lose the matching input channels.
    """

    name: str
    members: dict[str, ConvUnit]
    consumers: list[Consumer]

    @property
    def root(self) -> ConvUnit:
        return self.members[self.name]

    @property
    def width(self) -> int:
        return self.root.conv.out_channels


def prunable_groups(graph: LayerGraph) -> dict[str, PruneGroup]:
    """Every group that may lose filters, keyed by root name, in forward order."""
    by_key: dict[str, list[str]] = {}
    for node in graph.nodes.values():
        by_key.setdefault(node.group or node.name, []).append(node.name)
    groups: dict[str, PruneGroup] = {}
    for names in by_key.values():
        if not all(graph.nodes[n].prunable for n in names):
            continue
        roots = [n for n in names if graph.nodes[n].unit.kind != "depthwise"]
        if len(roots) != 1:
            continue  # several independent producers tied together: not a filter group
        root = roots[0]
        members = {root: graph.nodes[root].unit}
        members.update({n: graph.nodes[n].unit for n in names if n != root})
        consumers = []
        for member in members:
            for edge in graph.nodes[member].consumers:
                if edge.consumer in members:
                    continue
                unit = graph.nodes[edge.consumer].unit
                if unit.conv.groups != 1:
                    raise ValueError(f"layer {edge.consumer}: grouped consumer of {root} outside its group")
                consumers.append(Consumer(edge.consumer, unit, edge.offset))
        groups[root] = PruneGroup(root, members, consumers)
    for name in _residual_tied(graph, groups):
        del groups[name]
    return dict(sorted(groups.items(), key=lambda kv: list(graph.nodes).index(kv[0])))


def _block_ends(graph: LayerGraph, index: int) -> tuple[str, str]:
    """(group key of the producer of block `index`'s input, the block's projection)."""
    block = graph.model.backbone.blocks[index]
    prefix = f"backbone.blocks.{index}"
    first = f"{prefix}.expand" if block.expand is not None else f"{prefix}.dw"
    producer = graph.producers(first)[0][0]
    return graph.nodes[producer].group or producer, f"{prefix}.project"


def _residual_tied(graph: LayerGraph, groups: dict[str, PruneGroup]) -> set[str]:
    """Groups tied by a residual add the graph did not freeze (a first block whose widths happen to match,
    as in narrow models): the block's input producer and its projection."""
    blocks = getattr(graph.model.backbone, "blocks", None)
    tied: set[str] = set()
    for index, block in enumerate(blocks or []):
        if block.use_res:
            tied.update(name for name in _block_ends(graph, index) if name in groups)
    return tied
