"""Measured sensitivity (`--loss-images`): the loss rise of a candidate cluster, measured on a copy of the
model and cached per (layer, width); the hybrid ranking by it; the loop with it on a tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from models.lut import save_lut
from models.scoring import load_dataset
from pruning import checkpoint
from pruning.data.synth import LABEL
from pruning.prune.clusters import make_candidate
from pruning.prune.greedy import Pruner
from pruning.prune.hybrid import cheapest_clusters
from pruning.prune.importance import WeightNorm
from pruning.prune.sensitivity import LossProbe, calibration_batches
from pruning.prune.surgery import groups_of
from pruning.prune.variants import provenance
from tests.pruning_fixtures import fitted_checkpoint, synth_voc, tiny_model  # noqa: F401
from tests.test_prune_hybrid import ARCH, parent, period_lut, settings  # noqa: F401
from tests.test_prune_selection import TABLE, Fixed, group


@pytest.mark.parametrize("images", [1, 5, 8])
def test_calibration_set_holds_exactly_the_images_asked_for(images: int, synth_voc: Path) -> None:  # noqa: F811
    model = tiny_model(ARCH)
    found = calibration_batches(load_dataset(synth_voc, "train", {LABEL: 1}), model, images, 4, 0)
    assert sum(len(b[0]) for b in found) == images
    assert all(len(b[0]) == len(b[1]) == len(b[2]) and b[1].shape[1] == len(model.anchors) for b in found)
    with pytest.raises(ValueError, match="calibration images: 0"):
        calibration_batches([], model, 0, 4, 0)


@pytest.mark.parametrize("kind", ["loss", "outputs"])
def test_cost_is_measured_on_a_copy_and_cached_per_layer_and_width(kind: str, synth_voc: Path,  # noqa: F811
                                                                    fitted_checkpoint: Path) -> None:  # noqa: F811
    model, _ = checkpoint.load_model(fitted_checkpoint)  # fitted: a random tiny model's outputs barely move
    probe = LossProbe(calibration_batches(load_dataset(synth_voc, "train", {LABEL: 1}), model, 6, 4, 0), ARCH,
                      kind)  # type: ignore[arg-type]
    widths = {n: g.width for n, g in groups_of(model, ARCH).items()}
    name, grp = next(iter(groups_of(model, ARCH).items()))
    cand = make_candidate(grp, WeightNorm(2)(grp), grp.width // 2, gain=1.0)
    cost = probe.costs(model)
    reference = probe.outputs(model)
    rise = probe.score(probe.without(model, cand), reference) - probe.score(reference, reference)
    assert cost(cand) == pytest.approx(max(rise, 0.0)) and probe.cache[name, grp.width] == pytest.approx(rise)
    assert {n: g.width for n, g in groups_of(model, ARCH).items()} == widths  # the model is untouched
    if kind == "outputs":  # a distance from the current model: none from itself, some without filters
        itself = probe.score(reference, reference)
        assert itself == pytest.approx(0, abs=1e-6) and rise > 10 * abs(itself)
    cost(cand)
    assert probe.measured == 1  # cached: measured once
    probe.forget()
    assert probe.cache == {}


@pytest.mark.parametrize(("lost", "weight", "first"), [
    ({"a": 0.5, "b": 0.1}, 0.0, "b"),   # by loss per filter alone
    ({"a": 0.5, "b": 0.1}, 1.0, "b"),   # per time saved: a 0.5 / 1.0 ms, b 0.1 / 0.5 ms
    ({"a": 0.3, "b": 0.1}, 1.0, "b"),   # a 0.3 / 1.0 ms > b 0.1 / 0.5 ms
    ({"a": 0.15, "b": 0.1}, 1.0, "a"),  # a 0.15 / 1.0 ms < b 0.1 / 0.5 ms
    ({"a": 0.0, "b": 0.0}, 0.0, "a"),   # free removals: the one saving most time first
    ({"a": 0.0, "b": 0.0}, 1.0, "a"),
])
def test_measured_loss_replaces_importance_in_the_hybrid_ranking(lost: dict[str, float], weight: float,
                                                                   first: str) -> None:
    scores = {"a": [0.1] * 16 + [2.0] * 48, "b": [2.0] * 48 + [0.9] * 16}  # importance alone would pick a
    groups = {"a": group("a"), "b": group("b")}  # TABLE: a's cluster saves 1.0 ms, b's 0.5 ms (16 filters each)
    chosen = cheapest_clusters(groups, Fixed(scores), 16, TABLE, latency_weight=weight,
                               lost=lambda c: lost[c.group])
    assert chosen[0].group == first


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["loss", "outputs"])
def test_loop_ranks_by_measured_cost_and_names_it(kind: str, parent: Path, synth_voc: Path,  # noqa: F811
                                                  tmp_path: Path) -> None:
    save_lut(period_lut(8).lut, tmp_path / "lut.json")
    out = tmp_path / "run"
    pruner = Pruner(settings(parent, synth_voc, out, tmp_path / "lut.json", loss_images=4, latency_weight=1.0,
                             sensitivity=kind), progress=False)
    pruner.run()
    steps = [json.loads(line) for line in (out / "steps.jsonl").read_text().splitlines()]
    pruning_steps = [s for s in steps if s["changes"]]
    assert pruning_steps and all(s["loss_rise"] is not None and s["loss_rise"] >= -1 for s in pruning_steps)
    assert pruner.probe is not None and pruner.probe.measured >= len(pruning_steps)
    assert provenance(out, out / "final.pt", None).method == f"hybrid-{kind}-lw1"


def test_loss_images_need_the_hybrid(parent: Path, synth_voc: Path, tmp_path: Path) -> None:  # noqa: F811
    with pytest.raises(ValueError, match="--loss-images ranks the hybrid's clusters; --method cluster"):
        Pruner(settings(parent, synth_voc, tmp_path / "run", tmp_path / "lut.json", method="cluster", loss_images=4),
               progress=False)
