"""Physical filter removal: new, smaller Conv2d/BatchNorm2d modules; consumers' input channels sliced.

The result is an ordinary, smaller `nn.Module` (real speedup, not a mask). Its widths are what
`pruning.architectures.unit_widths` reads and `pruning.checkpoint.save` stores, so it reloads as it is.
Every removal is also a step of a replayable history (`PruneStep`): applying the same steps to the
unpruned model gives the same structure (as Torch-Pruning's pruning history does).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from pruning.prune.groups import PruneGroup, prunable_groups
from pruning.ssd.layers import ConvUnit
from pruning.ssd.ssd import SSD
from pruning.structure import build_graph


@dataclass
class PruneStep:
    """Filters `dropped` (indices at the time of the step) removed from group `group`."""

    group: str
    dropped: list[int]


def _new_conv(conv: nn.Conv2d, weight: torch.Tensor, bias: torch.Tensor | None, depthwise: bool) -> nn.Conv2d:
    out_c = weight.shape[0]
    in_c = out_c if depthwise else weight.shape[1] * conv.groups
    new = nn.Conv2d(in_c, out_c, conv.kernel_size, conv.stride, conv.padding, conv.dilation,
                    groups=out_c if depthwise else conv.groups, bias=bias is not None,
                    padding_mode=conv.padding_mode)
    with torch.no_grad():
        new.weight.copy_(weight)
        if bias is not None:
            new.bias.copy_(bias)  # type: ignore[union-attr]
    return new.to(conv.weight.device)


def _slice_outputs(unit: ConvUnit, keep: torch.Tensor) -> None:
    """Keep output channels `keep` of a root or depthwise member, and of its BatchNorm."""
    conv = unit.conv
    depthwise = unit.kind == "depthwise"
    bias = conv.bias.detach()[keep] if conv.bias is not None else None
    unit.conv = _new_conv(conv, conv.weight.detach()[keep], bias, depthwise)
    if isinstance(unit.bn, nn.BatchNorm2d):
        old = unit.bn
        bn = nn.BatchNorm2d(len(keep), old.eps, old.momentum, old.affine, old.track_running_stats)
        with torch.no_grad():
            for attr in ("weight", "bias", "running_mean", "running_var"):
                if getattr(old, attr) is not None:
                    getattr(bn, attr).copy_(getattr(old, attr).detach()[keep])
            if old.num_batches_tracked is not None:
                bn.num_batches_tracked.copy_(old.num_batches_tracked)
        unit.bn = bn.to(old.weight.device if old.weight is not None else "cpu").train(old.training)


def _slice_inputs(unit: ConvUnit, offset: int, width: int, keep: torch.Tensor) -> None:
    """Keep, of the input channels [offset, offset + width), those in `keep`; others stay as they are."""
    conv = unit.conv
    total = conv.in_channels
    index = torch.cat([torch.arange(offset), offset + keep, torch.arange(offset + width, total)])
    bias = conv.bias.detach() if conv.bias is not None else None
    unit.conv = _new_conv(conv, conv.weight.detach()[:, index], bias, depthwise=False)


def prune_group(group: PruneGroup, dropped: Sequence[int]) -> list[int]:
    """Remove output filters `dropped` of `group` (root, depthwise members, BN) and consumers' inputs.

    Returns:
        The kept indices (ascending), relative to the group's width before the call.
    """
    width = group.width
    drop = set(int(i) for i in dropped)
    if not drop or min(drop) < 0 or max(drop) >= width:
        raise ValueError(f"layer {group.name}: filters to drop {sorted(drop)[:8]}... not in 0..{width - 1}")
    keep_list = [i for i in range(width) if i not in drop]
    if not keep_list:
        raise ValueError(f"layer {group.name}: cannot remove all {width} filters")
    keep = torch.tensor(keep_list, dtype=torch.long)
    for consumer in group.consumers:
        _slice_inputs(consumer.unit, consumer.offset, width, keep)
    for unit in group.members.values():
        _slice_outputs(unit, keep)
    return keep_list


def groups_of(model: SSD, arch: str) -> dict[str, PruneGroup]:
    """The current prunable groups of `model` (rebuilt from its present shapes)."""
    return prunable_groups(build_graph(model, arch))


def prune_to_widths(model: SSD, arch: str, widths: dict[str, int]) -> dict[str, int]:
    """Keep the first `widths[name]` filters of each named prunable group of `model`, in place (a width at
    or above the group's leaves it alone); returns every group's width after. Latency depends on the
    widths alone, so this is how a network of given widths is cut for timing (no fine-tuning).

    Raises:
        ValueError: a name that is not a prunable group of this model, or a width below 1.
    """
    for name, width in widths.items():
        groups = groups_of(model, arch)
        if name not in groups:
            raise ValueError(f"layer {name}: not a prunable group of this {arch} model")
        if width < groups[name].width:
            prune_group(groups[name], list(range(max(width, 0), groups[name].width)))
    return {n: g.width for n, g in groups_of(model, arch).items()}


def apply_step(model: SSD, arch: str, step: PruneStep) -> list[int]:
    """Apply one history step to `model` in place; the group must exist and be prunable."""
    groups = groups_of(model, arch)
    if step.group not in groups:
        raise ValueError(f"layer {step.group}: not a prunable group of this {arch} model")
    return prune_group(groups[step.group], step.dropped)


def replay(model: SSD, arch: str, history: Sequence[PruneStep]) -> SSD:
    """Apply a whole pruning history to (a copy of the unpruned structure in) `model`, in place."""
    for step in history:
        apply_step(model, arch, step)
    return model
