"""The hybrid (snapped) method: global importance in LUT-step clusters, the snapping stage, the whole loop
on a tiny model with a hand-written LUT (the LUT's period decides the steps, never a hard-coded 16)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from models.lut import save_lut
from pruning import checkpoint
from pruning.prune.clusters import best_cluster
from pruning.prune.conventional import lowest_filters
from pruning.prune.greedy import Pruner
from pruning.prune.hybrid import cheapest_clusters, snap_down
from pruning.prune.importance import WeightNorm
from pruning.prune.lut import LayerLatency
from pruning.prune.records import Change, PruneSettings
from pruning.prune.surgery import PruneStep, groups_of, prune_group, replay
from pruning.structure import build_graph, to_spec
from tests.pruning_fixtures import synth_voc, tiny_config, tiny_model  # noqa: F401
from tests.test_prune_selection import TABLE, Fixed, group, hand_lut, layer_lut

ARCH = "ssd-mobilenet"


def period_lut(period: int) -> LayerLatency:
    """A linear hand LUT for every prunable root of the tiny SSD-MobileNet, steps every `period` filters."""
    spec = to_spec(build_graph(tiny_model(ARCH), ARCH), ARCH)
    layers = []
    for layer in spec.layers:
        if layer.prunable and layer.kind != "depthwise" and (layer.group or layer.name) == layer.name:
            entry = layer_lut(layer.name, layer.in_channels, layer.out_channels,
                              {1: 0.01, layer.out_channels: 0.01 * layer.out_channels},
                              list(range(period, layer.out_channels, period)))
            layers.append(entry.model_copy(update={"kind": layer.kind, "step_period": period}))
    return LayerLatency(hand_lut(layers).model_copy(update={"step_period": period}), min_width=period, spec=spec)


def test_cheapest_clusters_rank_by_importance_per_filter_one_per_layer() -> None:
    scores = {"a": [0.1] * 16 + [2.0] * 48, "b": [2.0] * 48 + [0.3] * 16}
    groups = {"a": group("a"), "b": group("b")}
    first = cheapest_clusters(groups, Fixed(scores), 16, TABLE)
    assert [(c.group, c.width_after, c.dropped) for c in first] == [("a", 48, list(range(16)))]
    both = cheapest_clusters(groups, Fixed(scores), 40, TABLE)  # one cluster per layer per step
    assert [c.group for c in both] == ["a", "b"] and both[1].dropped == list(range(48, 64))
    assert cheapest_clusters(groups, Fixed(scores), 16, TABLE, floors={"a": 49, "b": 49}) == []


@pytest.mark.parametrize(("low_a", "low_b"), [(0.5, 0.125), (0.25, 0.5), (0.25, 0.2)])
def test_latency_weight_goes_from_importance_alone_to_the_cluster_ratio(low_a: float, low_b: float) -> None:
    scores = {"a": [low_a] * 16 + [2.0] * 48, "b": [2.0] * 48 + [low_b] * 16}
    groups = {"a": group("a"), "b": group("b")}  # TABLE: a's cluster saves 1.0 ms, b's 0.5 ms (16 filters each)
    by_importance = cheapest_clusters(groups, Fixed(scores), 16, TABLE)
    assert by_importance[0].group == ("a" if low_a <= low_b else "b")
    by_ratio = cheapest_clusters(groups, Fixed(scores), 16, TABLE, latency_weight=1.0)
    assert by_ratio[0].group == best_cluster(groups, Fixed(scores), TABLE).group  # type: ignore[union-attr]
    halfway = cheapest_clusters(groups, Fixed(scores), 16, TABLE, latency_weight=0.5)[0]
    gain = {"a": 1.0, "b": 0.5}
    mean = sum(gain.values()) / 2
    key = {name: (low_a if name == "a" else low_b) / (gain[name] / mean) ** 0.5 for name in gain}
    assert halfway.group == min(key, key=key.get)  # type: ignore[arg-type]


@pytest.mark.parametrize(("period", "min_keep"), [(8, 0.0), (8, 0.6), (16, 0.3)])
def test_snapping_lands_every_pruned_layer_on_a_step_above_its_floor(period: int, min_keep: float) -> None:
    model = tiny_model(ARCH)
    table = period_lut(period)
    original = {n: g.width for n, g in groups_of(model, ARCH).items()}
    floors = {n: math.ceil(min_keep * w) for n, w in original.items()}
    importance = WeightNorm(2)
    for cand in lowest_filters(groups_of(model, ARCH), importance, 60, 1, floors):  # irregular widths
        prune_group(groups_of(model, ARCH)[cand.group], cand.dropped)
    before = {n: g.width for n, g in groups_of(model, ARCH).items()}
    assert any(not table.on_step(n, w) for n, w in before.items() if w != original[n])
    for cand in snap_down(groups_of(model, ARCH), importance, table, original, period, floors):
        assert cand.width_after < cand.width_before
        prune_group(groups_of(model, ARCH)[cand.group], cand.dropped)
    for name, width in ((n, g.width) for n, g in groups_of(model, ARCH).items()):
        assert width >= min(before[name], max(floors[name], period)), name
        if width != original[name]:
            # on a step, or left off it only because the step below lies under its floor
            assert table.on_step(name, width) or (width - 1) // period * period < max(floors[name], period), name
        assert width % period == 0 or width in (original[name], before[name]), name


def settings(parent: Path, data: Path, out: Path, lut: Path, **overrides: object) -> PruneSettings:
    fields = dict(checkpoint=parent, data=data, out=out, method="hybrid", lut=lut, filters_per_step=12,
                  min_width=8, min_keep=0.3, finetune_every=2, finetune_steps=1, final_finetune_steps=1,
                  batch_size=4, val_every=3, val_images=4, measure_runs=0, max_steps=4)
    fields.update(overrides)
    return PruneSettings(**fields)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def parent(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("parent") / "parent.pt"
    checkpoint.save(path, tiny_model(ARCH), tiny_config(ARCH))
    return path


@pytest.mark.slow
@pytest.mark.parametrize(("method", "snap_final"), [("hybrid", False), ("filter", True)])
def test_loop_ends_on_steps_above_floors_with_a_replayable_history(
        method: str, snap_final: bool, parent: Path, synth_voc: Path, tmp_path: Path) -> None:  # noqa: F811
    table = period_lut(8)
    save_lut(table.lut, tmp_path / "lut.json")
    out = tmp_path / "run"
    pruner = Pruner(settings(parent, synth_voc, out, tmp_path / "lut.json", method=method, snap_final=snap_final),
                    progress=False)
    pruner.run()
    summary = json.loads((out / "summary.json").read_text())
    original = {n: g.width for n, g in groups_of(tiny_model(ARCH), ARCH).items()}
    pruned = {n: w for n, w in summary["widths"].items() if w != original[n]}
    assert pruned and summary["steps"] >= 1
    for name, width in pruned.items():
        floor = max(8, math.ceil(0.3 * original[name]))
        assert width >= floor, name
        # the hybrid only ever lands on steps; a snapped conventional layer stays off one only above its floor
        assert pruner.table.on_step(name, width) or (method == "filter" and (width - 1) // 8 * 8 < floor), name
    history = [Change.model_validate(c) for c in json.loads((out / "history.json").read_text())]
    model = replay(tiny_model(ARCH), ARCH, [PruneStep(c.layer, c.dropped) for c in history])
    assert {n: g.width for n, g in groups_of(model, ARCH).items()} == summary["widths"]
    final, _ = checkpoint.load_model(out / "final.pt")
    assert final.eval()(torch.zeros(1, 3, 128, 128))[0].shape[-1] == 4


def test_hybrid_needs_steps(parent: Path, synth_voc: Path, tmp_path: Path) -> None:  # noqa: F811
    with pytest.raises(ValueError, match="--method hybrid needs --lut or --cluster-size"):
        Pruner(settings(parent, synth_voc, tmp_path / "run", None), progress=False)
    with pytest.raises(ValueError, match="--snap-final needs --lut"):
        Pruner(settings(parent, synth_voc, tmp_path / "run", None, method="filter", snap_final=True),
               progress=False)


@pytest.mark.parametrize(("speedup", "weight"), [(1.0, 0.2), (2.0, 0.6), (3.0, 1.0), (4.0, 1.0)])
def test_latency_weight_moves_from_start_to_final_with_the_speedup(speedup: float, weight: float, parent: Path,
                                                                   synth_voc: Path, tmp_path: Path) -> None:  # noqa: F811
    from pruning.prune.records import RunState

    save_lut(period_lut(8).lut, tmp_path / "lut.json")
    pruner = Pruner(settings(parent, synth_voc, tmp_path / "run", tmp_path / "lut.json", latency_weight=0.2,
                             latency_weight_final=1.0, target_speedup=3.0), progress=False)
    state = RunState(base_ms=6.0, base_map=50.0, est_latency_ms=6.0 / speedup, base_flops=1, original={})
    assert pruner.latency_weight(state) == pytest.approx(weight)


@pytest.mark.parametrize("overrides", [dict(method="cluster"), dict(target_speedup=None)])
def test_latency_weight_final_needs_the_hybrid_and_a_target(
        overrides: dict, parent: Path, synth_voc: Path, tmp_path: Path) -> None:  # noqa: F811
    fields = dict(latency_weight_final=1.0, target_speedup=3.0) | overrides
    with pytest.raises(ValueError, match="--latency-weight-final .* needs --method hybrid"):
        Pruner(settings(parent, synth_voc, tmp_path / "run", tmp_path / "lut.json", **fields), progress=False)
