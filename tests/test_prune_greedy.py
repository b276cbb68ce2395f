"""The greedy loop on a tiny model: stops at its target, logs every step, resumes after an interruption
exactly where an uninterrupted run would be; a pruned model exports with the baselines' parity check."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from models.store import ModelStore, StoredModel
from pruning import checkpoint
from pruning.prune.greedy import Pruner, finish_snapshots
from pruning.prune.records import PruneSettings, StepRecord
from pruning.prune.surgery import groups_of, prune_group
from pruning.release import ReleaseSettings, build_manifest, export_to_store
from pruning.ssd.ssd import SSD
from tests.pruning_fixtures import fitted_checkpoint, synth_voc, tiny_config, tiny_model  # noqa: F401
from tests.test_prune_surgery import _silence
from tests.test_pruning_export import test_torch_and_ir_agree as check_parity


class Interrupted(RuntimeError):
    pass


class CrashingPruner(Pruner):
    """Dies right after step `at` was saved, like a killed process."""

    at = 3

    def _after_step(self, model, state, record):  # type: ignore[no-untyped-def]
        result = super()._after_step(model, state, record)
        if record.step == self.at:
            raise Interrupted
        return result


@pytest.fixture(scope="module")
def parent(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("parent") / "parent.pt"
    checkpoint.save(path, tiny_model("ssd-mobilenet"), tiny_config("ssd-mobilenet"))
    return path


def settings(parent: Path, data: Path, out: Path, **overrides: object) -> PruneSettings:
    fields = dict(checkpoint=parent, data=data, out=out, method="cluster", cluster_size=8, target_speedup=1.006,
                  finetune_every=2, finetune_steps=1, final_finetune_steps=1, batch_size=4, val_every=3,
                  val_images=4, measure_runs=0, snapshots=[1.003], max_steps=6)
    fields.update(overrides)
    return PruneSettings(**fields)  # type: ignore[arg-type]


def records(out: Path) -> list[StepRecord]:
    return [StepRecord.model_validate_json(line) for line in (out / "steps.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("method", ["cluster", "filter"])
def test_resume_after_interruption_matches_uninterrupted(method: str, parent: Path, synth_voc: Path,  # noqa: F811
                                                         tmp_path: Path) -> None:
    target = 1.006 if method == "cluster" else None  # the conventional run goes to max_steps
    whole = Pruner(settings(parent, synth_voc, tmp_path / "whole", method=method, target_speedup=target),
                   progress=False)
    whole.run()
    crashed = tmp_path / "crashed"
    with pytest.raises(Interrupted):
        CrashingPruner(settings(parent, synth_voc, crashed, method=method, target_speedup=target),
                       progress=False).run()
    assert json.loads((crashed / "state.json").read_text())["step"] == CrashingPruner.at
    Pruner(settings(parent, synth_voc, crashed, method=method, target_speedup=target), progress=False).run()
    assert [r.changes for r in records(crashed)] == [r.changes for r in records(tmp_path / "whole")]
    a, b = (json.loads((d / "summary.json").read_text()) for d in (tmp_path / "whole", crashed))
    assert a["widths"] == b["widths"] and a["val_map50"] == b["val_map50"]
    steps = records(crashed)
    assert all(r.changes and r.est_latency_ms > 0 for r in steps[:-1])
    assert any(r.map50 is not None for r in steps) and steps[-1].changes == []
    if method == "cluster":
        assert all(c.after % 8 == 0 for r in steps for c in r.changes)
        assert a["stop_reason"].startswith("target reached")


class DiesInFinalFinetune(Pruner):
    """Saves the final fine-tune's progress every step and dies right after the second save."""

    progress_every = 1

    def _save_progress(self, path, model, progress):  # type: ignore[no-untyped-def]
        super()._save_progress(path, model, progress)
        if progress.done == 2:
            raise Interrupted


def test_final_finetune_resumes_after_interruption(parent: Path, synth_voc: Path, tmp_path: Path) -> None:  # noqa: F811
    common = dict(target_speedup=1.006, final_finetune_steps=4, distill=1.0, snapshots=[])
    Pruner(settings(parent, synth_voc, tmp_path / "whole", **common), progress=False).run()
    crashed = tmp_path / "crashed"
    with pytest.raises(Interrupted):
        DiesInFinalFinetune(settings(parent, synth_voc, crashed, **common), progress=False).run()
    assert (crashed / "final.progress.pt").is_file() and not (crashed / "final.pt").exists()
    Pruner(settings(parent, synth_voc, crashed, **common), progress=False).run()
    assert not (crashed / "final.progress.pt").exists()
    a, b = (json.loads((d / "summary.json").read_text()) for d in (tmp_path / "whole", crashed))
    assert a["widths"] == b["widths"] and a["val_map50"] == pytest.approx(b["val_map50"], abs=1e-6)
    whole, _ = checkpoint.load_model(tmp_path / "whole" / "final.pt")
    resumed, _ = checkpoint.load_model(crashed / "final.pt")
    for x, y in zip(whole.state_dict().values(), resumed.state_dict().values(), strict=True):
        assert torch.allclose(x.float(), y.float(), atol=1e-4)


def test_snapshot_and_settings_guard(parent: Path, synth_voc: Path, tmp_path: Path) -> None:  # noqa: F811
    pruner = Pruner(settings(parent, synth_voc, tmp_path / "run", target_speedup=1.006), progress=False)
    pruner.run()
    assert [p.name for p in finish_snapshots(pruner)] == ["snap-1.003x-final.pt"]
    model, _ = checkpoint.load_model(tmp_path / "run" / "snap-1.003x-final.pt")
    assert model.eval()(torch.zeros(1, 3, 128, 128))[0].shape[-1] == 4
    with pytest.raises(ValueError, match="other settings .*lr"):
        Pruner(settings(parent, synth_voc, tmp_path / "run", target_speedup=1.006, lr=1e-2), progress=False).run()


@pytest.fixture(scope="module")
def stored(fitted_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory  # noqa: F811
           ) -> tuple[SSD, StoredModel]:
    """The fitted tiny model with 3 (silenced) filters out of every group: irregular widths everywhere."""
    model, config = checkpoint.load_model(fitted_checkpoint)
    for name in list(groups_of(model, "ssd-mobilenet")):
        group = groups_of(model, "ssd-mobilenet")[name]
        if group.width - 3 >= 2:
            _silence(group, [0, 1, 2])
            prune_group(group, [0, 1, 2])
    path = fitted_checkpoint.parent / "pruned.pt"
    checkpoint.save(path, model, config)
    model, config = checkpoint.load_model(path)
    manifest = build_manifest("tiny-pruned", "cp-test", config, path, {"test": True}, method="cluster")
    return model, export_to_store(model, manifest, ModelStore(tmp_path_factory.mktemp("store")))


def test_pruned_model_exports_with_parity(stored: tuple[SSD, StoredModel], synth_voc: Path) -> None:  # noqa: F811
    check_parity(stored, synth_voc)


def test_loop_times_the_pruned_model_against_its_parent(parent: Path, synth_voc: Path,  # noqa: F811
                                                        tmp_path: Path) -> None:
    out = tmp_path / "timed"
    Pruner(settings(parent, synth_voc, out, target_speedup=None, max_steps=2, measure_runs=3),
           progress=False).run()
    timed = [r for r in records(out) if r.measured_ms is not None]
    assert timed and all(r.measured_speedup and r.measured_speedup > 0 for r in timed)
    assert (out / "parent" / "model.xml").is_file()


class ScriptedClockPruner(Pruner):
    """Times with scripted (parent ms, model ms) readings, then (10, 8): a busy machine's clock, whose one
    reading can run fast; everything else is the real loop."""

    def __init__(self, settings: PruneSettings, readings: list[tuple[float, float]]) -> None:
        super().__init__(settings, progress=False)
        self.readings = list(readings)

    def _time(self, model: SSD) -> tuple[float, float]:
        return self.readings.pop(0) if self.readings else (10.0, 8.0)


def test_a_reading_that_would_stop_the_run_or_snapshot_is_read_again(parent: Path, synth_voc: Path,  # noqa: F811
                                                                      tmp_path: Path) -> None:
    out = tmp_path / "noisy"
    readings = [(10.0, 10.0),  # the parent at the start
                (10.0, 4.0), (10.0, 8.0), (10.0, 9.0),  # step 1: a 2.5x spike, read again: median 1.25x
                (10.0, 6.0), (10.0, 6.2), (10.0, 6.4),  # step 2: 1.61x, past the 1.5x snapshot on the median
                (10.0, 4.5), (10.0, 4.8), (10.0, 5.2)]  # step 3: 2.08x: the target, confirmed
    ScriptedClockPruner(settings(parent, synth_voc, out, target_speedup=2.0, measure_runs=3, finetune_every=1,
                                 snapshots=[1.5], max_steps=5), readings).run()
    steps = [r for r in records(out) if r.changes]
    assert [r.measured_speedup for r in steps] == [1.25, pytest.approx(1.6129), pytest.approx(2.0833)]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["stop_reason"].startswith("target reached") and len(steps) == 3
    assert (out / "snap-1.5x.pt").is_file()


def spec_lut(path: Path) -> Path:
    """A linear hand LUT (steps every 8 filters) for every prunable root of the tiny SSD-MobileNet."""
    from models.lut import save_lut
    from pruning.structure import build_graph, to_spec
    from tests.test_prune_selection import hand_lut, layer_lut

    spec = to_spec(build_graph(tiny_model("ssd-mobilenet"), "ssd-mobilenet"), "tiny")
    layers = []
    for layer in spec.layers:
        if layer.prunable and layer.kind != "depthwise" and (layer.group or layer.name) == layer.name:
            entry = layer_lut(layer.name, layer.in_channels, layer.out_channels,
                              {1: 0.01, layer.out_channels: 0.01 * layer.out_channels},
                              list(range(8, layer.out_channels, 8)))
            layers.append(entry.model_copy(update={"kind": layer.kind}))
    save_lut(hand_lut(layers), path)
    return path


def test_loop_times_with_the_luts_thread_count(parent: Path, synth_voc: Path, tmp_path: Path) -> None:  # noqa: F811
    from models.lut import load_lut, save_lut

    lut = spec_lut(tmp_path / "lut.json")
    assert Pruner(settings(parent, synth_voc, tmp_path / "a", cluster_size=None, lut=lut, threads=3),
                  progress=False).measure_threads == 1
    save_lut(load_lut(lut).model_copy(update={"threads": "2"}), lut)
    assert Pruner(settings(parent, synth_voc, tmp_path / "b", cluster_size=None, lut=lut),
                  progress=False).measure_threads == 2
    assert Pruner(settings(parent, synth_voc, tmp_path / "c", threads=3), progress=False).measure_threads == 3


def test_variant_manifest_carries_the_pruning_provenance(parent: Path, synth_voc: Path,  # noqa: F811
                                                        tmp_path: Path) -> None:
    from pruning.prune.variants import export_variant

    lut = spec_lut(tmp_path / "lut.json")
    run = tmp_path / "run"
    Pruner(settings(parent, synth_voc, run, cluster_size=None, lut=lut, distill=0.5, snapshots=[]),
           progress=False).run()
    release = ReleaseSettings(name="tiny", version="cp-test", data=synth_voc, latency_runs=3)
    stored = export_variant(run, ModelStore(tmp_path / "store"), release, parent="tiny@1")
    prov = stored.manifest.provenance
    assert prov.kind == "pruning" and prov.parent == "tiny@1" and prov.method == "cluster"
    details = prov.details
    widths, original = details["filters_per_layer"], details["unpruned_filters_per_layer"]
    assert widths != original and set(widths) <= set(original)
    assert details["finetune"]["distill"] == 0.5
    assert details["lut"]["threads"] == "1" and details["lut"]["saving_ms"] > 0
    assert stored.manifest.metrics.map50 is not None and stored.manifest.metrics.latency_ms["CPU"] > 0


class CollapsingPruner(Pruner):
    """Validation reads far below the parent at step `at`, once: the collapse a too deep step causes."""

    at = 4
    collapsed = False

    def _evaluate(self, model, record, key, steps, name=None):  # type: ignore[no-untyped-def]
        model = super()._evaluate(model, record, key, steps, name)
        if record.step == self.at and not self.collapsed:
            self.collapsed, record.map50 = True, -100.0
        return model


@pytest.mark.parametrize("method", ["cluster", "filter"])
def test_a_collapse_rolls_back_and_freezes_the_layers_it_touched(method: str, parent: Path, synth_voc: Path,  # noqa: F811
                                                                   tmp_path: Path) -> None:
    out = tmp_path / "run"
    CollapsingPruner(settings(parent, synth_voc, out, method=method, target_speedup=3.0, max_steps=8,
                              max_map_drop=50.0, max_rollbacks=1, filters_per_step=4), progress=False).run()
    steps = [r for r in records(out) if r.changes]
    assert [r.step for r in steps][:6] == [1, 2, 3, 4, 3, 4]  # the lost steps stay in the log
    lost = {c.layer for r in steps[2:4] for c in r.changes}
    kept = [c for r in steps[:2] + steps[4:] for c in r.changes]
    history = json.loads((out / "history.json").read_text())
    assert [(c["layer"], c["after"]) for c in history] == [(c.layer, c.after) for c in kept]
    assert not {c.layer for r in steps[4:] for c in r.changes} & lost, "a frozen layer was pruned again"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rollbacks"] == 1 and set(summary["frozen"]) == lost and summary["steps"] == 8


def test_a_collapse_without_rollbacks_left_stops_at_the_last_good_step(parent: Path, synth_voc: Path,  # noqa: F811
                                                                        tmp_path: Path) -> None:
    out = tmp_path / "run"
    CollapsingPruner(settings(parent, synth_voc, out, target_speedup=3.0, max_steps=8, max_map_drop=50.0),
                     progress=False).run()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 2 and summary["rollbacks"] == 0 and summary["frozen"] == []
    assert re.match(r"validation mAP drop [0-9.]+ > 50.0 at step 4: back to step 2", summary["stop_reason"])


@pytest.mark.parametrize(("fields", "label"), [
    (dict(method="filter"), "filter"),
    (dict(method="cluster", cluster_size=16), "cluster-16"),
    (dict(method="cluster", lut="lut.json"), "cluster"),
    (dict(method="cluster", lut="lut.json", stepless="rows"), "cluster-rows"),
    (dict(method="hybrid", lut="lut.json", latency_weight=0.5, stepless="rows", snap_final=True),
     "hybrid-lw0.5-rows+snap"),
    (dict(method="hybrid", lut="lut.json", loss_images=8), "hybrid-loss"),
    (dict(method="hybrid", lut="lut.json", latency_weight=0.5, latency_weight_final=1.0, target_speedup=3.0),
     "hybrid-lw0.5to1"),
])
def test_method_label_names_every_setting_that_changes_the_selection(fields: dict, label: str) -> None:
    from pruning.prune.variants import method_label

    assert method_label(PruneSettings(checkpoint="p.pt", data="d", out="o", **fields)) == label
