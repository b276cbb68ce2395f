"""Filter importance, per group, normalised per layer so that layers compare.

`Importance` is anything with `__call__(group) -> scores` (one score per filter of the group's root,
higher = more important). Scores are divided by their layer's sum (Torch-Pruning's "sum" normaliser): a
filter's score is the fraction of its layer's present importance it carries, so layers compare whatever
the scale of their weights, removing 16 of 96 filters costs more than 16 of 960, and a layer becomes
dearer to prune as it shrinks (its remaining filters carry more of it). "mean" (every layer averages 1)
is available; it made the greedy loop drive narrow layers down to the floor, since all clusters of 16
then cost about the same.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

import torch
from torch import nn

from pruning.prune.groups import PruneGroup
from pruning.ssd.layers import ConvUnit

EPS = 1e-12


class Importance(Protocol):
    def __call__(self, group: PruneGroup) -> torch.Tensor:
        """One non-negative score per filter of `group` (higher = keep)."""
        ...


NORMALISER = "sum"
"""Module default: "sum" or "mean" (see the module docstring)."""


def normalise(scores: torch.Tensor, how: str | None = None) -> torch.Tensor:
    how = how or NORMALISER
    if how not in ("sum", "mean"):
        raise ValueError(f"normaliser {how!r}: use 'sum' or 'mean'")
    return scores / (scores.sum() if how == "sum" else scores.mean()).clamp_min(EPS)


def folded_weight(unit: ConvUnit) -> torch.Tensor:
    """The filter weights with BatchNorm's scale folded in: what the filter really contributes.

    Without folding, a filter with a large weight but a tiny BN gamma would look important.
    """
    weight = unit.conv.weight.detach()
    if isinstance(unit.bn, nn.BatchNorm2d) and unit.bn.weight is not None:
        factor = unit.bn.weight.detach() / torch.sqrt(unit.bn.running_var + unit.bn.eps)
        weight = weight * factor.reshape(-1, 1, 1, 1)
    return weight


class WeightNorm:
    """L1 (p=1) or L2 (p=2, the paper's "minimum weight") norm of each root filter, BN folded."""

    def __init__(self, p: int = 2) -> None:
        if p not in (1, 2):
            raise ValueError(f"norm order p={p}: use 1 or 2")
        self.p = p

    def __call__(self, group: PruneGroup) -> torch.Tensor:
        weight = folded_weight(group.root).flatten(1)
        return normalise(weight.abs().sum(1) if self.p == 1 else weight.pow(2).sum(1).sqrt())


LossFn = Callable[[nn.Module, object], torch.Tensor]


class Taylor:
    """First-order Taylor: |sum over the map of activation x gradient| per channel, summed over batches.

    Call `accumulate` (a few batches) before scoring; after a surgery call `pruned` so the stored scores
    follow the kept channels. A group's score adds its members' (root and depthwise) channel scores.
    """

    def __init__(self) -> None:
        self.scores: dict[str, torch.Tensor] = {}

    def accumulate(self, model: nn.Module, batches: Iterable[object], loss_fn: LossFn) -> None:
        self.scores = {}
        acts: dict[str, torch.Tensor] = {}
        handles = []
        for name, module in model.named_modules():
            if isinstance(module, ConvUnit):
                def hook(_m: nn.Module, _i: tuple, out: torch.Tensor, name: str = name) -> None:
                    if out.requires_grad:
                        out.retain_grad()
                        acts[name] = out
                handles.append(module.register_forward_hook(hook))
        was_training = model.training
        model.eval()  # BN statistics must not move while scoring
        try:
            for batch in batches:
                acts.clear()
                model.zero_grad(set_to_none=True)
                loss_fn(model, batch).backward()
                for name, out in acts.items():
                    if out.grad is None:
                        continue
                    score = (out.detach() * out.grad).sum(dim=(2, 3)).abs().mean(0)
                    self.scores[name] = self.scores.get(name, 0) + score
        finally:
            for handle in handles:
                handle.remove()
            model.zero_grad(set_to_none=True)
            model.train(was_training)

    def pruned(self, group: PruneGroup, keep: list[int]) -> None:
        index = torch.tensor(keep, dtype=torch.long)
        for member in group.members:
            if member in self.scores:
                self.scores[member] = self.scores[member][index]

    def __call__(self, group: PruneGroup) -> torch.Tensor:
        parts = [self.scores[m] for m in group.members if m in self.scores]
        if not parts:
            raise ValueError(f"layer {group.name}: no Taylor scores (call accumulate first)")
        return normalise(torch.stack(parts).sum(0))


def make_importance(kind: str) -> WeightNorm | Taylor:
    """'l1', 'l2' or 'taylor'."""
    kinds = {"l1": lambda: WeightNorm(1), "l2": lambda: WeightNorm(2), "taylor": Taylor}
    if kind not in kinds:
        raise ValueError(f"importance {kind!r}: choose one of {sorted(kinds)}")
    return kinds[kind]()
