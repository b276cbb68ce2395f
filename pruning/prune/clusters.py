"""Candidate clusters: per layer, the least important filters whose removal buys real time.

With a LUT, a layer's cluster brings it from its width down to its next lower latency step (so the
removal always crosses a step); its gain is the LUT's saving (layer + consumers). With a fixed
`--cluster-size N` and no LUT, a cluster brings the layer to the next lower multiple of N, and its gain is
the FLOPs it removes (root, depthwise members and consumers' input channels), a hardware-blind proxy.
The greedy loop takes the candidate with the best gain per importance lost.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from pruning.prune.groups import PruneGroup
from pruning.prune.importance import Importance
from pruning.prune.lut import LayerLatency
from pruning.ssd.ssd import SSD
from pruning.structure import input_sizes

MAX_STEPS_DOWN = 4
"""Steps a LUT cluster may skip when the next step saves nothing measurable (noise, flat tails); at least
as many of the LUT's step periods in filters, so a row cut in its fine profiling stride looks as far."""


@dataclass
class Candidate:
    group: str
    width_before: int
    width_after: int
    dropped: list[int]
    gain: float
    """Estimated latency saved (ms, LUT) or FLOPs removed (no LUT)."""
    importance_lost: float

    @property
    def ratio(self) -> float:
        return self.gain / max(self.importance_lost, 1e-9)


def _least(scores: torch.Tensor, count: int) -> list[int]:
    return sorted(int(i) for i in torch.argsort(scores, stable=True)[:count])


def make_candidate(group: PruneGroup, scores: torch.Tensor, width_after: int, gain: float) -> Candidate:
    dropped = _least(scores, group.width - width_after)
    return Candidate(group.name, group.width, width_after, dropped, gain, float(scores[dropped].sum()))


def lut_candidate(group: PruneGroup, scores: torch.Tensor, table: LayerLatency, floor: int = 0
                  ) -> Candidate | None:
    """Down to the next LUT step (skipping steps that save nothing), not below `floor`."""
    target, tried = table.next_step(group.name, group.width), 0
    while target is not None and target >= floor and \
            (tried < MAX_STEPS_DOWN or group.width - target <= MAX_STEPS_DOWN * table.period):
        if table.saving(group, target) > 0:
            return make_candidate(group, scores, target, table.saving(group, target))
        target, tried = table.next_step(group.name, target), tried + 1
    return None


class FlopCost:
    """FLOPs each filter of a group costs: its root and depthwise members' output, consumers' input."""

    def __init__(self, model: SSD) -> None:
        self.sizes = {name: _out_size(model, name, hw) for name, hw in input_sizes(model).items()}

    def per_filter(self, group: PruneGroup) -> float:
        total = 0.0
        for name, unit in group.members.items():
            c = unit.conv
            total += 2 * c.kernel_size[0] * c.kernel_size[1] * (c.in_channels // c.groups) * _area(self.sizes[name])
        for consumer in group.consumers:
            c = consumer.unit.conv
            total += 2 * c.kernel_size[0] * c.kernel_size[1] * c.out_channels * _area(self.sizes[consumer.name])
        return total


def _area(hw: tuple[int, int]) -> int:
    return hw[0] * hw[1]


def _out_size(model: SSD, name: str, hw: tuple[int, int]) -> tuple[int, int]:
    conv = model.get_submodule(name).conv
    k, s, p = conv.kernel_size[0], conv.stride[0], conv.padding[0]
    return ((hw[0] + 2 * p - k) // s + 1, (hw[1] + 2 * p - k) // s + 1)


def fixed_candidate(group: PruneGroup, scores: torch.Tensor, size: int, cost: FlopCost,
                    min_width: int) -> Candidate | None:
    """Down to the next lower multiple of `size`; gain = FLOPs removed."""
    target = (group.width - 1) // size * size
    if target < max(min_width, 1):
        return None
    return make_candidate(group, scores, target, cost.per_filter(group) * (group.width - target))


def best_cluster(groups: dict[str, PruneGroup], importance: Importance, table: LayerLatency | None = None,
                 size: int | None = None, cost: FlopCost | None = None, min_width: int = 8,
                 floors: dict[str, int] | None = None) -> Candidate | None:
    """The candidate with the best gain per importance lost, or None when no layer can shrink further.

    `floors` are per-layer minimum widths (e.g. a fraction of the unpruned width) on top of `min_width`.
    """
    floors = floors or {}
    if table is None and (size is None or cost is None):
        raise ValueError("cluster selection needs a LUT, or a cluster size and a FLOPs cost")
    best: Candidate | None = None
    for group in groups.values():
        scores = importance(group)
        floor = max(min_width, floors.get(group.name, 0))
        cand = lut_candidate(group, scores, table, floor) if table is not None else \
            fixed_candidate(group, scores, size, cost, floor)  # type: ignore[arg-type]
        if cand is not None and (best is None or cand.ratio > best.ratio):
            best = cand
    return best
