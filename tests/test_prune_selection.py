"""Cluster selection against a hand-written LUT, the fixed cluster size, and the conventional order."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from models.lut import LayerLut, Lut, LutPoint, save_lut
from pruning.prune.clusters import FlopCost, best_cluster, fixed_candidate, lut_candidate
from pruning.prune.conventional import global_rank, lowest_filters
from pruning.prune.groups import PruneGroup
from pruning.prune.lut import LayerLatency, LutMismatch, profiling_spec
from pruning.prune.surgery import groups_of
from pruning.ssd.layers import ConvUnit
from pruning.structure import build_graph, to_spec
from tests.pruning_fixtures import tiny_model


def layer_lut(name: str, cin: int, cout: int, ms: dict[int, float], boundaries: list[int]) -> LayerLut:
    points = [LutPoint(filters=f, ms=v, min_ms=v, spread_ms=0.0) for f, v in sorted(ms.items())]
    return LayerLut(name=name, kind="pointwise", in_channels=cin, out_channels=cout, consumers=[], points=points,
                    stride=4, noise_ms=0.0, step_noise_ms=0.0, step_boundaries=boundaries,
                    step_period=16 if boundaries else None, period_aligned=1.0, seconds=0.0)


def hand_lut(layers: list[LayerLut]) -> Lut:
    return Lut(spec_model="hand", spec_sha256="0" * 64, device="CPU", device_name="test", openvino="test",
               precision=None, threads="1", streams="1", method="hand-written", settings={}, step_period=16,
               complete=True, elapsed_s=0.0, layers={layer.name: layer for layer in layers})


def group(name: str, width: int = 64) -> PruneGroup:
    return PruneGroup(name, {name: ConvUnit(8, width, 1)}, [])


class Fixed:
    """Importance stub: preset scores per layer."""

    def __init__(self, scores: dict[str, list[float]]) -> None:
        self.scores = scores

    def __call__(self, g: PruneGroup) -> torch.Tensor:
        return torch.tensor(self.scores[g.name])


# Layer a saves 1.0 ms from 64 to 48 filters, layer b 0.5 ms; both step at multiples of 16.
STEPS = [16, 32, 48]
TABLE = LayerLatency(hand_lut([
    layer_lut("a", 8, 64, {16: 1.0, 17: 1.4, 32: 1.5, 33: 1.9, 48: 2.0, 49: 2.9, 64: 3.0}, STEPS),
    layer_lut("b", 8, 64, {16: 2.0, 17: 2.1, 48: 2.5, 49: 2.95, 64: 3.0}, STEPS),
]))


@pytest.mark.parametrize(("low_a", "low_b", "expected"), [
    (0.5, 0.125, "b"),   # a: 1.0 ms / 8.0 lost; b: 0.5 ms / 2.0 lost -> b
    (0.25, 0.5, "a"),    # a: 1.0 / 4.0; b: 0.5 / 8.0 -> a
])
def test_lut_cluster_picks_best_saving_per_importance(low_a: float, low_b: float, expected: str) -> None:
    scores = {"a": [low_a] * 16 + [2.0] * 48, "b": [2.0] * 48 + [low_b] * 16}
    best = best_cluster({"a": group("a"), "b": group("b")}, Fixed(scores), TABLE)
    assert best is not None and best.group == expected
    assert (best.width_before, best.width_after) == (64, 48)
    assert best.dropped == (list(range(16)) if expected == "a" else list(range(48, 64)))


def test_lut_cluster_stops_at_the_floor() -> None:
    cand = lut_candidate(group("a"), torch.ones(64), TABLE, floor=40)
    assert cand is not None and cand.width_after == 48
    assert lut_candidate(group("a"), torch.ones(64), TABLE, floor=49) is None
    assert lut_candidate(group("a", 16), torch.ones(16), TABLE) is None  # at the floor (min width 8)


def test_next_step_falls_back_to_the_period() -> None:
    table = LayerLatency(hand_lut([layer_lut("c", 8, 100, {1: 0.1, 100: 1.0}, [])]))
    assert table.next_step("c", 100) == 96 and table.next_step("c", 96) == 80
    noisy = LayerLatency(hand_lut([layer_lut("d", 8, 64, {1: 0.1, 64: 1.0}, [32, 45, 50])]))
    assert noisy.next_step("d", 64) == 32  # 45 and 50 are off the period: noise


@pytest.mark.parametrize(("stepless", "smooth_from_32", "stepped_from_64"), [
    ("period", [16], [32, 16]),           # the period grid: a 32-wide smooth layer can only halve
    ("rows", [28, 24, 20, 16, 12, 8], [32, 16, 12, 8]),  # the row's stride; measured steps first, then the stride
])
def test_stepless_layers_go_by_period_or_by_the_rows_stride(stepless: str, smooth_from_32: list[int],
                                                             stepped_from_64: list[int]) -> None:
    table = LayerLatency(hand_lut([layer_lut("smooth", 8, 32, {1: 0.1, 32: 1.0}, []),
                                   layer_lut("stepped", 8, 64, {1: 0.1, 16: 1.0, 17: 2.0, 33: 3.0, 64: 3.5},
                                             [16, 32])]), min_width=8, stepless=stepless)  # type: ignore[arg-type]

    def walk(name: str, width: int) -> list[int]:
        seen = []
        while (width := table.next_step(name, width)) is not None:  # type: ignore[assignment]
            seen.append(width)
        return seen

    assert walk("smooth", 32) == smooth_from_32
    assert walk("stepped", 64) == stepped_from_64
    cand = lut_candidate(group("smooth", 32), torch.arange(32.0), table)
    assert cand is not None and cand.width_after == smooth_from_32[0] and cand.gain > 0


def test_lut_that_does_not_fit_names_the_layer(tmp_path: Path) -> None:
    spec = to_spec(build_graph(tiny_model("ssd-mobilenet"), "ssd-mobilenet"), "tiny")
    path = tmp_path / "lut.json"
    save_lut(hand_lut([layer_lut("backbone.stem", 3, 8, {1: 0.1, 8: 0.2}, [])]), path)
    with pytest.raises(LutMismatch, match="backbone.stem: LUT has pointwise 3->8"):
        LayerLatency.load(path, spec)
    save_lut(hand_lut([]), path)
    with pytest.raises(LutMismatch, match="backbone.stem: not in the LUT"):
        LayerLatency.load(path, spec)


def test_profiling_spec_clones_concat_readers() -> None:
    spec = to_spec(build_graph(tiny_model("ssd-squeezenet"), "ssd-squeezenet"), "tiny")
    layer = profiling_spec(spec).layer("backbone.fires.0.expand3x3")
    clone = profiling_spec(spec).layer(layer.consumers[0])
    assert clone.name == "backbone.fires.1.squeeze@backbone.fires.0.expand3x3"
    assert clone.in_channels == layer.out_channels


def test_fixed_cluster_size_without_lut() -> None:
    model = tiny_model("ssd-squeezenet")
    groups = groups_of(model, "ssd-squeezenet")
    g = groups["backbone.fires.2.expand1x1"]
    cand = fixed_candidate(g, torch.arange(g.width, dtype=torch.float), 8, FlopCost(model), min_width=8)
    assert cand is not None and cand.width_after == (g.width - 1) // 8 * 8 and cand.gain > 0
    assert cand.dropped == list(range(g.width - cand.width_after))
    best = best_cluster(groups, Fixed({n: [1.0] * x.width for n, x in groups.items()}), size=8,
                        cost=FlopCost(model))
    assert best is not None and best.width_after % 8 == 0


def test_conventional_takes_global_order_and_keeps_min_width() -> None:
    groups = {"a": group("a", 10), "b": group("b", 10)}
    scores = {"a": [0.1, 5, 5, 5, 0.3, 5, 5, 5, 5, 5], "b": [5, 0.2, 5, 5, 5, 5, 5, 5, 5, 0.4]}
    ranked = global_rank(groups, Fixed(scores))
    assert [(n, i) for _, n, i in ranked[:4]] == [("a", 0), ("b", 1), ("a", 4), ("b", 9)]
    picked = {c.group: c.dropped for c in lowest_filters(groups, Fixed(scores), 3, min_width=1)}
    assert picked == {"a": [0, 4], "b": [1]}
    floor = lowest_filters(groups, Fixed(scores), 20, min_width=8)
    assert sorted(c.width_after for c in floor) == [8, 8]


def test_floors_bound_clusters_and_conventional() -> None:
    scores = {"a": [0.01] * 64, "b": [1.0] * 64}
    assert best_cluster({"a": group("a")}, Fixed(scores), TABLE, floors={"a": 50}) is None
    best = best_cluster({"a": group("a"), "b": group("b")}, Fixed(scores), TABLE, floors={"a": 50})
    assert best is not None and best.group == "b"
    picked = lowest_filters({"a": group("a")}, Fixed(scores), 30, min_width=1, floors={"a": 60})
    assert [c.width_after for c in picked] == [60]


def test_model_estimate_sums_the_pruned_layers_savings() -> None:
    original = {"a": 64, "b": 64, "not-in-lut": 10}
    assert TABLE.lut.saving_ms(original, {"a": 32, "b": 64, "not-in-lut": 5}) == pytest.approx(1.5)
    assert TABLE.lut.saving_ms(original, {"a": 32, "b": 48}) == pytest.approx(2.0)
    assert TABLE.estimate(10.0, {"a": 48, "b": 48}, original) == pytest.approx(10.0 - 1.0 - 0.5)


def test_savings_on_the_reference_scale() -> None:
    """Rows timed beside the whole model: a row profiled while the machine ran twice as slow (its reference
    twice the others') saves half its ms on the common scale; the model estimate is a fraction of it."""
    a, b = (layer.model_copy(update={"reference_ms": ref}) for layer, ref in
            zip(TABLE.lut.layers.values(), (10.0, 20.0), strict=True))
    table = LayerLatency(hand_lut([a, b]))
    assert table.saving(group("a"), 48) == pytest.approx(1.0 * 15.0 / 10.0)
    assert table.saving(group("b"), 48) == pytest.approx(0.5 * 15.0 / 20.0)
    original = {"a": 64, "b": 64}
    assert table.estimate(8.0, {"a": 48, "b": 48}, original) == pytest.approx(8.0 * (1 - 1.0 / 10 - 0.5 / 20))


@pytest.mark.parametrize(("stepless", "width_after"), [("period", 32), ("rows", 40)])
def test_a_noisy_top_is_skipped_as_far_in_filters_whatever_the_cluster_grain(stepless: str, width_after: int
                                                                             ) -> None:
    # the row's top reads low (noise): by the table, the first 20 filters below it save nothing
    row = {1: 0.1, 40: 1.0, 44: 1.25, 48: 1.3, 52: 1.3, 56: 1.3, 60: 1.4, 64: 1.2}
    table = LayerLatency(hand_lut([layer_lut("noisy", 8, 64, row, [])]), stepless=stepless)  # type: ignore[arg-type]
    cand = lut_candidate(group("noisy"), torch.arange(64.0), table)
    assert cand is not None and cand.width_after == width_after and cand.gain > 0
