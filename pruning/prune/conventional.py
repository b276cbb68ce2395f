"""The conventional baseline: filters removed by global importance rank, with no regard to hardware.

Each step removes the `count` least important filters of the whole network (scores normalised per layer,
as for clusters), wherever they are; with `count=1` it is exactly one at a time. Layers end with
irregular widths; that is the point of the comparison.
"""

from __future__ import annotations

from pruning.prune.clusters import Candidate
from pruning.prune.groups import PruneGroup
from pruning.prune.importance import Importance


def global_rank(groups: dict[str, PruneGroup], importance: Importance) -> list[tuple[float, str, int]]:
    """(score, layer, filter) of every filter, least important first (ties: forward order)."""
    ranked = []
    for order, (name, group) in enumerate(groups.items()):
        for index, score in enumerate(importance(group).tolist()):
            ranked.append((score, order, index, name))
    ranked.sort()
    return [(score, name, index) for score, _order, index, name in ranked]


def lowest_filters(groups: dict[str, PruneGroup], importance: Importance, count: int,
                   min_width: int = 8, floors: dict[str, int] | None = None) -> list[Candidate]:
    """The `count` globally least important filters, as one removal per layer (empty when none left).

    A layer never goes below `min_width` (or its entry in `floors`).
    """
    floors = floors or {}
    chosen: dict[str, list[tuple[int, float]]] = {}
    taken = 0
    for score, name, index in global_rank(groups, importance):
        if taken >= count:
            break
        group = groups[name]
        picked = chosen.setdefault(name, [])
        if group.width - len(picked) - 1 < max(min_width, floors.get(name, 0)):
            continue
        picked.append((index, score))
        taken += 1
    result = []
    for name, picked in chosen.items():
        group = groups[name]
        if picked:
            dropped = sorted(i for i, _ in picked)
            result.append(Candidate(name, group.width, group.width - len(dropped), dropped, 0.0,
                                    sum(s for _, s in picked)))
    return result
