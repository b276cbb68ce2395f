"""Calibrating a LUT against whole models (`headcount-prune calibrate-lut`).

A LUT row times one layer with its consumers, so the rows' savings miss what only a whole model saves
when every layer shrinks at once (concats, layout conversions, activations that start to fit a cache).
Calibration measures that: it cuts uniform variants from the parent (every prunable layer keeps the same
fraction of its filters; no fine-tuning, since latency does not depend on the weights), times each in
turns with the parent (`agent.timing.time_interleaved`, median over rounds of the within-round ratio),
and stores what they saved beside what the rows say (`models.lut.LutCalibration`). The variants the
estimate is later judged on (fronts, the report) are not among them.

`export_uniform` (`calibrate-lut --store`) writes the same cuts into the model store instead, so that
`headcount-agent bench` times them in the same runs as the variants and `headcount-prune report` fits the
calibration from that bench: on the day, on the machine's state, by the statistic the estimates are judged
with.
"""

from __future__ import annotations

import copy
import statistics
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from agent.timing import interleaved_ms
from models.layer_spec import ModelSpec
from models.lut import SCALE_RANGE, UNIFORM_METHOD, CalibrationPoint, Lut, LutCalibration
from models.manifest import Metrics, Provenance, sha256_file
from models.store import ModelStore, StoredModel, parse_ref
from pruning.checkpoint import load_model
from pruning.config import ModelConfig
from pruning.prune.lut import LutMismatch
from pruning.prune.surgery import groups_of, prune_to_widths
from pruning.ssd.ssd import SSD

DEFAULT_KEEPS = (0.75, 0.5, 0.3, 0.2)


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def prune_uniformly(model: SSD, arch: str, keep: float, min_width: int = 8) -> dict[str, int]:
    """Keep the first `keep` of every prunable group's filters (at least `min_width`), in place; returns
    the groups' widths after."""
    if not 0 < keep < 1:
        raise ValueError(f"keep {keep}: a fraction of the filters strictly between 0 and 1 is needed")
    return prune_to_widths(model, arch, {n: max(min_width, round(g.width * keep))
                                         for n, g in groups_of(model, arch).items()})


def _check_rows(lut: Lut, original: dict[str, int], checkpoint: Path) -> None:
    for name, width in original.items():
        row = lut.layers.get(name)
        if row is None:
            raise LutMismatch(f"layer {name} of {checkpoint}: not in the LUT (measured for {lut.spec_model})")
        if row.out_channels != width:
            raise LutMismatch(f"layer {name} of {checkpoint}: {width} filters, the LUT's row {row.out_channels}")
        if not row.reference_ms:
            raise LutMismatch(f"layer {name}: the LUT's row has no reference model to take its saving as a "
                              "fraction of (profile with --reference)")


def _parent_and_rows(checkpoint: Path, lut: Lut, spec: ModelSpec) -> tuple[SSD, ModelConfig, dict[str, int]]:
    """The parent model, its config and prunable widths, checked against the LUT and its spec."""
    parent, config = load_model(checkpoint)
    if tuple(spec.input_size) != tuple(config.input_size):
        raise LutMismatch(f"{checkpoint} takes {tuple(config.input_size)} input, the spec {spec.model} "
                          f"{tuple(spec.input_size)}: the LUT's rows were timed for another network")
    original = {n: g.width for n, g in groups_of(parent, config.arch).items()}
    _check_rows(lut, original, checkpoint)
    return parent, config, original


def _check_keeps(keeps: Sequence[float]) -> None:
    if not keeps or (bad := [k for k in keeps if not 0 < k < 1]):
        raise ValueError(f"keep {bad[0] if keeps else 'list empty'}: fractions of the filters strictly between "
                         "0 and 1 are needed")


def _cuts(parent: SSD, arch: str, original: dict[str, int], lut: Lut, spec: ModelSpec, keeps: Sequence[float],
          progress: Callable[[str], None]) -> Iterator[tuple[float, SSD, dict[str, int], float]]:
    """Per keep: a uniform cut of `parent`, its widths and what the LUT's rows say it saves."""
    for keep in keeps:
        model = copy.deepcopy(parent)
        widths = prune_uniformly(model, arch, keep)
        fraction = lut.saved_fraction(original, widths, spec)
        assert fraction is not None  # every row has its reference (`_check_rows`)
        progress(f"keep {keep}: {sum(widths.values())} of {sum(original.values())} filters, "
                 f"the rows say it saves {fraction:.3f} of the parent")
        yield keep, model, widths, fraction


def uniform_version(keep: float) -> str:
    """The store version of the uniform cut that keeps `keep` of every layer's filters: `uniform-0.75`."""
    return f"{UNIFORM_METHOD}-{keep:g}"


def export_uniform(checkpoint: Path, lut: Lut, spec: ModelSpec, store: ModelStore, parent_ref: str,
                   keeps: Sequence[float] = DEFAULT_KEEPS, overwrite: bool = False,
                   progress: Callable[[str], None] = _stderr) -> list[StoredModel]:
    """Write the uniform cuts of `checkpoint` into `store` beside its stored parent `parent_ref`
    (`name@version`), as `name@uniform-KEEP`, for the bench to time in turns with the variants.

    They are not fine-tuned (latency does not depend on the weights) and detect nothing useful: their
    manifests say so and carry no accuracy. The provenance keeps the widths and what the LUT's rows say
    each saves, so the report can fit the calibration from the bench alone.

    Raises:
        LutMismatch: the checkpoint's prunable layers are not the LUT's rows.
        ValueError: a `keep` outside (0, 1).
        ModelStoreError: `parent_ref` is not `name@version` or not in the store, or a version is taken
            (without `overwrite`).
    """
    from pruning.flops import count_flops, count_params
    from pruning.release import build_manifest, export_to_store

    _check_keeps(keeps)
    name, version = parse_ref(parent_ref)
    store.read_manifest(name, version)  # the parent must be there for the report to pair them
    for keep in keeps:
        store.check_free(name, uniform_version(keep), overwrite)
    parent, config, original = _parent_and_rows(checkpoint, lut, spec)
    written = []
    for keep, model, widths, fraction in _cuts(parent, config.arch, original, lut, spec, keeps, progress):
        details = {"keep": keep, "role": "latency calibration only: not fine-tuned, do not deploy",
                   "filters_per_layer": widths, "unpruned_filters_per_layer": original,
                   "lut": {"saved_fraction": round(fraction, 4), "reference": lut.reference}}
        provenance = Provenance(kind="pruning", source=f"{checkpoint} (sha256 {sha256_file(checkpoint)[:16]})",
                                parent=parent_ref, method=UNIFORM_METHOD, details=details)
        metrics = Metrics(flops=float(count_flops(model, tuple(config.input_size))), params=count_params(model))
        manifest = build_manifest(name, uniform_version(keep), config, checkpoint, {}, metrics,
                                  provenance=provenance)
        written.append(export_to_store(model, manifest, store, overwrite))
        progress(f"stored {manifest.ref}")
    return written


def calibrate(checkpoint: Path, lut: Lut, spec: ModelSpec, keeps: Sequence[float] = DEFAULT_KEEPS,
              rounds: int = 7, runs: int = 60, progress: Callable[[str], None] = _stderr) -> LutCalibration:
    """Time uniform variants of `checkpoint` in turns with it; what each saved beside what `lut` says.

    Raises:
        LutMismatch: the checkpoint's prunable layers are not the LUT's rows.
        ValueError: a `keep` outside (0, 1), or fewer than one round or run.
    """
    if rounds < 1 or runs < 1:
        raise ValueError(f"calibration needs at least one round and one run (got {rounds}, {runs})")
    _check_keeps(keeps)
    parent, config, original = _parent_and_rows(checkpoint, lut, spec)
    from pruning.export import save_ir

    with tempfile.TemporaryDirectory() as tmp:
        xmls = [save_ir(parent, Path(tmp) / "parent" / "model.xml")]
        fractions = []
        for keep, model, _, fraction in _cuts(parent, config.arch, original, lut, spec, keeps, progress):
            fractions.append(fraction)
            xmls.append(save_ir(model, Path(tmp) / f"keep-{keep}" / "model.xml"))
        saved: list[list[float]] = [[] for _ in keeps]
        for index in range(rounds):
            parent_ms, *variant_ms = interleaved_ms(xmls, runs, lut.thread_count)
            for bucket, ms in zip(saved, variant_ms, strict=True):
                bucket.append(1 - ms / parent_ms)
            progress(f"round {index + 1}/{rounds}: parent {parent_ms:.2f} ms, variants "
                     + ", ".join(f"{ms:.2f}" for ms in variant_ms) + " ms")
    points = [CalibrationPoint(keep=keep, lut_fraction=round(fraction, 4),
                               measured_fraction=round(statistics.median(bucket), 4))
              for keep, fraction, bucket in zip(keeps, fractions, saved, strict=True)]
    calibration = LutCalibration(parent=str(checkpoint), points=points, rounds=rounds, runs=runs,
                                 threads=lut.thread_count)
    if not calibration.plausible:
        progress(f"warning: scale {calibration.scale:.3f} is outside {SCALE_RANGE}, more likely noise than the "
                 "network; re-run on a quieter machine or with more --rounds before relying on it")
    return calibration
