"""The hybrid (snapped) method: global importance selection, removed in the hardware's step sizes.

The conventional baseline removes the globally least important filters wherever they are and leaves
layers between latency steps (channels the device pads and computes anyway). Cluster pruning respects
the steps but ranks by LUT time saved per importance lost, so it cuts where time is cheap rather than
where filters matter least. The hybrid ranks as the conventional method does (each filter's importance,
normalised per layer, compared across the network) but removes whole clusters: a layer's candidate is
its least important filters down to its next LUT step (`clusters.lut_candidate`: the LUT decides the
steps), or to its next multiple of `--cluster-size` without a LUT. Each step takes the candidates of
least mean importance per filter, at most one per layer, until `--filters-per-step` filters are out. So
every pruned layer's width stays on a step boundary, never below its floor. `--latency-weight w` divides
that key by (the cluster's time saved per filter over the candidates' mean) ** w: 0 ranks by importance
alone; 1 by importance per time saved, the cluster method's ratio, still several layers a step.

`snap_down` is the same rule as a stage any method can end with (`--snap-final`): every pruned layer
that is off its steps goes down to the step below it (never below its floor), before the final
fine-tune; the changes join the run's replayable history.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from pruning.prune.clusters import Candidate, FlopCost, fixed_candidate, lut_candidate, make_candidate
from pruning.prune.groups import PruneGroup
from pruning.prune.importance import Importance
from pruning.prune.lut import LayerLatency

if TYPE_CHECKING:
    from pruning.prune.greedy import Pruner
    from pruning.prune.records import RunState
    from pruning.ssd.ssd import SSD


def layer_clusters(groups: dict[str, PruneGroup], importance: Importance, table: LayerLatency | None,
                   size: int | None, cost: FlopCost | None, min_width: int, floors: dict[str, int]
                   ) -> list[Candidate]:
    """Every layer's next cluster (its least important filters down to its next step), forward order."""
    if table is None and (size is None or cost is None):
        raise ValueError("hybrid selection needs a LUT, or a cluster size and a FLOPs cost")
    found = []
    for group in groups.values():
        scores = importance(group)
        floor = max(min_width, floors.get(group.name, 0))
        cand = lut_candidate(group, scores, table, floor) if table is not None else \
            fixed_candidate(group, scores, size, cost, floor)  # type: ignore[arg-type]
        if cand is not None:
            found.append(cand)
    return found


def cheapest_clusters(groups: dict[str, PruneGroup], importance: Importance, count: int,
                      table: LayerLatency | None = None, size: int | None = None, cost: FlopCost | None = None,
                      min_width: int = 8, floors: dict[str, int] | None = None, latency_weight: float = 0.0,
                      lost: Callable[[Candidate], float] | None = None) -> list[Candidate]:
    """The clusters of least mean loss per filter (over relative time saved per filter to the power
    `latency_weight`), one per layer at most, until `count` filters are chosen (at least one cluster; empty
    when no layer can reach a step above its floor). A cluster's loss is `lost(cluster)` (e.g. the measured
    loss rise of `sensitivity.LossProbe.costs`), else the importance of its filters; of equal losses (free
    removals), the one that saves most time per filter goes first."""
    found = layer_clusters(groups, importance, table, size, cost, min_width, floors or {})
    lost = lost or (lambda c: c.importance_lost)
    order = {name: index for index, name in enumerate(groups)}
    mean_gain = sum(c.gain / len(c.dropped) for c in found) / len(found) if found else 1.0

    def key(c: Candidate) -> tuple[float, float, int]:
        relative = max(c.gain / len(c.dropped) / mean_gain, 1e-9) if mean_gain > 0 else 1.0
        return lost(c) / len(c.dropped) / relative ** latency_weight, -relative, order[c.group]

    found.sort(key=key)
    chosen: list[Candidate] = []
    for cand in found:
        if sum(len(c.dropped) for c in chosen) >= count:
            break
        chosen.append(cand)
    return chosen


def snap_down(groups: dict[str, PruneGroup], importance: Importance, table: LayerLatency,
              original: dict[str, int], min_width: int = 8, floors: dict[str, int] | None = None
              ) -> list[Candidate]:
    """For every pruned layer off its LUT steps, its least important filters down to the step below.

    A layer whose step below lies under its floor (or `min_width`) stays where it is; unpruned layers
    are left alone (the method chose not to touch them)."""
    floors = floors or {}
    found = []
    for name, group in groups.items():
        if group.width == original.get(name, group.width) or table.on_step(name, group.width):
            continue
        target = table.next_step(name, group.width)
        if target is None or target < max(min_width, floors.get(name, 0)):
            continue
        found.append(make_candidate(group, importance(group), target, table.saving(group, target)))
    return found


def snap_stage(pruner: Pruner, model: SSD, state: RunState) -> None:
    """Snap the model down to its steps once (`--snap-final`), logged as a step of its own."""
    from pruning.prune.records import StepRecord
    from pruning.prune.surgery import groups_of

    started = time.time()
    floors = {n: math.ceil(pruner.s.min_keep * w) for n, w in state.original.items()}
    candidates = snap_down(groups_of(model, pruner.arch), pruner.importance, pruner.table,  # type: ignore[arg-type]
                           state.original, pruner.s.min_width, floors)
    changes = pruner._apply(model, candidates)
    state.history.extend(changes)
    state.est_latency_ms = pruner.estimate(model, state)
    state.snapped = True
    if changes:
        state.step += 1
        pruner._log(StepRecord(step=state.step, changes=changes, gain=sum(c.gain for c in candidates),
                               importance_lost=sum(c.importance_lost for c in candidates),
                               est_latency_ms=round(state.est_latency_ms, 3),
                               est_speedup=round(state.base_ms / state.est_latency_ms, 4),
                               seconds=round(time.time() - started, 2)))
    pruner._save("current.pt", model, state)
